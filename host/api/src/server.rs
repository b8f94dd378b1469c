//! Serving the API on a socket, within [`Limits`] that keep a misbehaving
//! client from stalling or exhausting the server:
//!
//! - a request head that does not arrive within `header_read_timeout` closes
//!   its connection (hyper's own timer), so a slowloris client sending a
//!   header a byte at a time holds a connection for that long at most; the
//!   same bound closes a connection left idle between requests;
//! - a request not answered within `request_timeout` gets a 408 (a slow body
//!   counts, as the handler is still reading it); a run start's `?wait=`
//!   adds the wait to it, and an event stream is not cut by it, since the
//!   bound is on the response's head and a stream's events are its body;
//! - at most `max_connections` connections are served at once; past that the
//!   server stops accepting, and new connections wait in the kernel's
//!   listen backlog (bounded, and costing the server nothing) until one ends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::{ApiState, app};

/// What the server allows one client, and all of them together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's head (line and
    /// headers), and how long a connection may sit idle between requests.
    pub header_read_timeout: Duration,
    /// How long a request may take, from its head to the head of the
    /// response, reading its body included. A run start's `?wait=` adds to
    /// it; an event stream's body is not bounded by it.
    pub request_timeout: Duration,
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Live event streams (`text/event-stream`) one token may hold open.
    pub max_streams_per_token: usize,
    /// How long `/readyz` waits for the store before answering 503.
    pub ready_timeout: Duration,
}

impl Default for Limits {
    /// 10 s for a head, 30 s for a request, 512 connections, 16 streams per
    /// token, 2 s for the readiness probe.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_streams_per_token: 16,
            ready_timeout: Duration::from_secs(2),
        }
    }
}

/// Serve [`app`] on `listener` until `shutdown` completes, within
/// `state.limits`. Then stop accepting, end the live event streams, and give
/// the requests in flight up to the request timeout to finish.
pub async fn serve(
    mut listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.limits.clone();
    let streams = state.streams.clone();
    let app = app(state);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A slot first, then accept: at the cap, connections queue in the
        // kernel instead of each costing a task and buffers here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        // axum's accept retries (after a pause) on errors such as EMFILE.
        let (stream, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(slot);
        });
    }
    drop(listener);
    streams.close();
    if tokio::time::timeout(limits.request_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("stopped waiting for the connections still open at shutdown");
    }
    Ok(())
}

/// The deadline of a group of routes: the request timeout, and whether a
/// run start's `?wait=` extends it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    limit: Duration,
    waits: bool,
}

impl Deadline {
    /// The request timeout alone.
    pub(crate) fn plain(limit: Duration) -> Self {
        Self {
            limit,
            waits: false,
        }
    }

    /// The request timeout plus the `?wait=` the request asks for.
    pub(crate) fn waiting(limit: Duration) -> Self {
        Self { limit, waits: true }
    }
}

/// Answer 408 when the handler (reading the body included) has not produced
/// the response's head within the deadline. Dropping the handler drops what
/// it holds, the connection's body among it.
pub(crate) async fn deadline(
    State(deadline): State<Deadline>,
    request: Request,
    next: Next,
) -> Response {
    let mut limit = deadline.limit;
    if deadline.waits {
        limit += crate::routes::runs::requested_wait(request.uri());
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request was not answered within {} s (server.request_timeout)",
                limit.as_secs_f64()
            ),
        )
        .into_response(),
    }
}
