//! The response body a guest reads: capped in size, with a deadline between
//! chunks, and holding the request's in-flight slot until it ends.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::attempt::LogLevel;
use crate::state::Journal;

/// One of an attempt's `http_requests` slots. A request holds it from the
/// call until its response body ends, fails or is dropped.
pub(super) struct InFlight {
    count: Arc<AtomicUsize>,
}

impl InFlight {
    /// Take a slot, or `None` if all `max` are taken.
    pub(super) fn try_acquire(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        Some(Self {
            count: count.clone(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body cut with an error once it passes `limit` bytes, or when
/// no chunk arrives within `between` of the last one.
pub(super) struct Capped {
    /// `None` once the body has ended or been cut, which also closes the
    /// connection of a cut body.
    inner: Option<WasiBody>,
    limit: u64,
    seen: u64,
    between: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    journal: Journal,
    /// The request, for the record on the attempt.
    what: String,
    slot: Option<InFlight>,
}

impl Capped {
    pub(super) fn new(
        inner: WasiBody,
        limit: u64,
        between: Duration,
        journal: Journal,
        what: String,
        slot: InFlight,
    ) -> Self {
        Self {
            inner: Some(inner),
            limit,
            seen: 0,
            between,
            deadline: Box::pin(tokio::time::sleep(between)),
            journal,
            what,
            slot: Some(slot),
        }
    }

    fn end(&mut self) {
        self.inner = None;
        self.slot = None;
    }

    fn cut(&mut self, error: Error, message: String) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.end();
        self.journal.log(LogLevel::Warn, message);
        Poll::Ready(Some(Err(error)))
    }
}

impl Body for Capped {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen = this.seen.saturating_add(data.len() as u64);
                    if this.seen > this.limit {
                        let message = format!(
                            "http {}: response body cut after {} bytes, over the limit of {} bytes (http_response_bytes)",
                            this.what, this.seen, this.limit
                        );
                        return this.cut(Error::HttpResponseBodySize(Some(this.seen)), message);
                    }
                }
                let next = tokio::time::Instant::now() + this.between;
                this.deadline.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.end();
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.end();
                Poll::Ready(None)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    let message = format!(
                        "http {}: no response body data for {:?} (http_first_byte_timeout, or the request's shorter between-bytes timeout)",
                        this.what, this.between
                    );
                    this.cut(Error::ConnectionReadTimeout, message)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;
    use http_body_util::BodyExt;

    /// A body that never ends: 1000 bytes per frame, or nothing at all.
    struct Endless {
        silent: bool,
    }

    impl Body for Endless {
        type Data = Bytes;
        type Error = Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
            if self.silent {
                return Poll::Pending;
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; 1000])))))
        }
    }

    fn capped(silent: bool, limit: u64, count: &Arc<AtomicUsize>) -> (Capped, Journal) {
        let journal = Journal::new(&Limits::default());
        let slot = InFlight::try_acquire(count, 1).unwrap();
        let body = Capped::new(
            Endless { silent }.boxed_unsync(),
            limit,
            Duration::from_millis(50),
            journal.clone(),
            "GET http://x:80/".into(),
            slot,
        );
        (body, journal)
    }

    #[test]
    fn slots_are_counted_and_given_back() {
        let count = Arc::new(AtomicUsize::new(0));
        let a = InFlight::try_acquire(&count, 2).unwrap();
        let _b = InFlight::try_acquire(&count, 2).unwrap();
        assert!(InFlight::try_acquire(&count, 2).is_none());
        drop(a);
        assert!(InFlight::try_acquire(&count, 2).is_some());
        assert_eq!(count.load(Ordering::Acquire), 1);
    }

    #[tokio::test]
    async fn an_endless_body_is_cut_past_the_limit_and_gives_its_slot_back() {
        let count = Arc::new(AtomicUsize::new(0));
        let (body, journal) = capped(false, 10_500, &count);
        let mut body = body.boxed_unsync();
        let mut read = 0;
        let error = loop {
            match body.frame().await {
                Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                Some(Err(e)) => break e,
                None => panic!("an endless body ended"),
            }
        };
        assert_eq!(read, 10_000);
        assert!(
            matches!(error, Error::HttpResponseBodySize(Some(11_000))),
            "{error}"
        );
        assert!(body.frame().await.is_none(), "a cut body stays ended");
        assert_eq!(count.load(Ordering::Acquire), 0, "the slot is free again");
        let logs = journal.take().lines;
        assert!(
            logs[0]
                .message
                .contains("over the limit of 10500 bytes (http_response_bytes)"),
            "{logs:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_body_fails_after_the_between_bytes_deadline() {
        let count = Arc::new(AtomicUsize::new(0));
        let (body, journal) = capped(true, 1 << 20, &count);
        let start = std::time::Instant::now();
        let error = body.boxed_unsync().frame().await.unwrap().unwrap_err();
        assert!(matches!(error, Error::ConnectionReadTimeout), "{error}");
        assert!(start.elapsed() < Duration::from_secs(2));
        assert!(
            journal.take().lines[0]
                .message
                .contains("http_first_byte_timeout")
        );
    }
}
