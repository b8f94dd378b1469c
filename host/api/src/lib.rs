//! The Baton HTTP API (axum), under `/api/v1`, JSON everywhere.
//!
//! [`app`] builds the router, so tests can drive it directly; [`serve`] runs
//! it on a listener until a shutdown signal. Every endpoint but the health
//! checks needs a bearer token ([`auth`]); every error is
//! `{"error": {"code", "message", "details"}}` ([`error`]); every mutating call
//! is recorded in the audit log with its actor ([`audit`]).
//!
//! # Layout
//! - [`auth`]: tokens, roles, the authenticated [`auth::Caller`].
//! - [`error`]: the one error type, `ApiError`.
//! - [`audit`]: recording mutating calls.
//! - `routes`: one module per resource: plugins, workflows, runs, health.
#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod error;

mod routes;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use baton_engine::Engine;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The engine (and through it the store and runtime).
    pub engine: Engine,
    /// Largest plugin component accepted, in bytes.
    pub max_plugin_bytes: usize,
    /// Largest other request body, in bytes.
    pub max_body_bytes: usize,
}

impl ApiState {
    /// Defaults: 64 MiB components, 1 MiB for everything else.
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            max_plugin_bytes: 64 << 20,
            max_body_bytes: 1 << 20,
        }
    }
}

/// The whole API.
pub fn app(state: ApiState) -> Router {
    let plugins = Router::new()
        .route(
            "/plugins",
            post(routes::plugins::upload).get(routes::plugins::list),
        )
        .route("/plugins/{name}", get(routes::plugins::by_name))
        .route(
            "/plugins/{name}/{version}",
            get(routes::plugins::one).delete(routes::plugins::delete),
        )
        .layer(DefaultBodyLimit::max(state.max_plugin_bytes));
    let rest = Router::new()
        .route("/workflows", get(routes::workflows::list))
        .route(
            "/workflows/{name}",
            put(routes::workflows::apply).get(routes::workflows::show),
        )
        .route(
            "/workflows/{name}/validate",
            post(routes::workflows::validate),
        )
        .route(
            "/workflows/{name}/versions/{version}",
            get(routes::workflows::version),
        )
        .route("/workflows/{name}/runs", post(routes::runs::start))
        .route("/runs", get(routes::runs::list))
        .route("/runs/{id}", get(routes::runs::show))
        .route("/runs/{id}/events", get(routes::runs::events))
        .route("/runs/{id}/cancel", post(routes::runs::cancel))
        .route(
            "/runs/{id}/nodes/{node}/approve",
            post(routes::runs::approve),
        )
        .route("/runs/{id}/nodes/{node}/reject", post(routes::runs::reject))
        .route("/audit", get(routes::health::audit))
        .route(
            "/interlock",
            get(routes::interlock::show)
                .post(routes::interlock::engage)
                .delete(routes::interlock::release),
        )
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    Router::new()
        .nest("/api/v1", plugins.merge(rest))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::metrics::metrics))
        .fallback(routes::health::not_found)
        .with_state(state)
}

/// Serve [`app`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
