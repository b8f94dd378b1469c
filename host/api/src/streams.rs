//! Live event streams, counted per token. Each stream holds a task, a
//! broadcast receiver and a buffer, so one token may hold only
//! [`crate::Limits::max_streams_per_token`] of them at once (the next is a
//! 429). A stream's [`StreamPermit`] goes back when the stream ends for any
//! reason: its run ended, its client left, or the server is shutting down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

/// The open streams of every token, and the signal that ends them all.
#[derive(Debug)]
pub struct Streams {
    /// Open streams by token id; a token with none has no entry.
    open: Mutex<HashMap<String, usize>>,
    closing: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            open: Mutex::default(),
            closing: watch::channel(false).0,
        }
    }
}

impl Streams {
    /// A permit for one more stream of `token`, unless it holds `max` already.
    pub fn open(self: &Arc<Self>, token: &str, max: usize) -> Option<StreamPermit> {
        let mut open = self.lock();
        let count = open.entry(token.to_string()).or_insert(0);
        if *count >= max {
            if *count == 0 {
                open.remove(token);
            }
            return None;
        }
        *count += 1;
        Some(StreamPermit {
            streams: self.clone(),
            token: token.to_string(),
        })
    }

    /// Streams `token` holds open now.
    pub fn count(&self, token: &str) -> usize {
        self.lock().get(token).copied().unwrap_or(0)
    }

    /// Streams open now, of every token.
    pub fn total(&self) -> usize {
        self.lock().values().sum()
    }

    /// End every stream, now and from now on: the server is shutting down,
    /// and its connections cannot finish while a stream is open.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Streams::close`] is called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut closing = self.closing.subscribe();
        async move {
            // An error means the sender is gone, which is closing too.
            let _ = closing.wait_for(|closed| *closed).await;
        }
    }

    /// The counts; no code panics while holding them, but a poisoned lock
    /// still holds valid counts.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open stream of a token; dropping it gives the slot back.
#[derive(Debug)]
pub struct StreamPermit {
    streams: Arc<Streams>,
    token: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(count) = open.get_mut(&self.token) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_streams_up_to_the_cap_and_each_back_when_dropped() {
        let streams = Arc::new(Streams::default());
        let held: Vec<_> = (0..3).map(|_| streams.open("a", 3)).collect();
        assert!(held.iter().all(Option::is_some));
        assert!(streams.open("a", 3).is_none());
        // Another token has its own count.
        let other = streams.open("b", 3);
        assert!(other.is_some());
        assert_eq!((streams.count("a"), streams.total()), (3, 4));
        drop(held);
        assert_eq!(streams.count("a"), 0);
        assert!(streams.open("a", 3).is_some());
        assert!(streams.open("c", 0).is_none());
        assert_eq!(streams.count("c"), 0);
    }
}
