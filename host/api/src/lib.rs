//! The Baton HTTP API (axum), under `/api/v1`, JSON everywhere.
//!
//! [`app`] builds the router, so tests can drive it directly; [`serve`] runs
//! it on a listener until a shutdown signal, within the [`Limits`] that keep
//! a misbehaving client from stalling or exhausting it. Every endpoint but the health
//! checks needs a bearer token ([`auth`]); every error is
//! `{"error": {"code", "message", "details"}}` ([`error`]); every mutating call
//! is recorded in the audit log with its actor ([`audit`]).
//!
//! # Layout
//! - [`auth`]: tokens, roles, the authenticated [`auth::Caller`].
//! - [`error`]: the one error type, `ApiError`.
//! - [`audit`]: recording mutating calls.
//! - [`openapi`]: the OpenAPI document, built from the same handlers as the router.
//! - [`server`]: the accept loop, its [`Limits`] and the request timeout.
//! - [`streams`]: live event streams, counted per token.
//! - [`session`]: console sign-in, the session cookie and its CSRF token.
//! - `routes`: one module per resource: plugins, workflows, runs, approvals, tokens,
//!   interlock, status, health.
#![deny(missing_docs)]

pub mod audit;
pub mod auth;
pub mod error;
pub mod openapi;
pub mod server;
pub mod session;
pub mod streams;

mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use baton_engine::Engine;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What every handler can reach.
#[derive(Clone)]
pub struct ApiState {
    /// The engine (and through it the store and runtime).
    pub engine: Engine,
    /// Largest plugin component accepted, in bytes.
    pub max_plugin_bytes: usize,
    /// Largest other request body, in bytes.
    pub max_body_bytes: usize,
    /// Timeouts and caps against misbehaving clients.
    pub limits: Limits,
    /// The live event streams, counted per token against
    /// [`Limits::max_streams_per_token`].
    pub streams: Arc<streams::Streams>,
    /// The least role that may release the safety interlock (admin by
    /// default; any operator may engage it).
    pub interlock_release_role: auth::Role,
}

impl ApiState {
    /// Defaults: 64 MiB components, 1 MiB for everything else, and the
    /// default [`Limits`].
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            max_plugin_bytes: 64 << 20,
            max_body_bytes: 1 << 20,
            limits: Limits::default(),
            streams: Arc::default(),
            interlock_release_role: auth::Role::Admin,
        }
    }
}

pub use server::{Limits, serve};

/// The whole API.
pub fn app(state: ApiState) -> Router {
    let (router, _) = routes_with_spec(
        state.max_plugin_bytes,
        state.max_body_bytes,
        state.limits.request_timeout,
    )
    .split_for_parts();
    router
        .merge(baton_console::router())
        .fallback(routes::health::not_found)
        .with_state(state)
}

/// Every route, each registered from its handler's `#[utoipa::path]`, so
/// the router and the OpenAPI document cannot disagree.
/// Bodies are limited to `max_body` bytes, plugin components to `max_plugin`;
/// every request must be answered within `timeout` (a run start's `?wait=`
/// adds to it; an event stream's body is not bounded by it).
pub(crate) fn routes_with_spec(
    max_plugin: usize,
    max_body: usize,
    timeout: Duration,
) -> OpenApiRouter<ApiState> {
    use routes::{
        approvals, cluster, health, incidents, interlock, locks, metrics, plugins, runs, status,
        tokens, workflows,
    };
    use server::{Deadline, deadline};
    let plain = from_fn_with_state(Deadline::plain(timeout), deadline);
    let plugins = OpenApiRouter::new()
        .routes(routes!(plugins::upload, plugins::list))
        .routes(routes!(plugins::by_name))
        .routes(routes!(plugins::one, plugins::delete))
        .layer(DefaultBodyLimit::max(max_plugin))
        .layer(plain.clone());
    // Starting a run may wait for it to finish: its deadline grows by the wait asked for.
    let start = OpenApiRouter::new()
        .routes(routes!(runs::start))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(Deadline::waiting(timeout), deadline));
    let rest = OpenApiRouter::new()
        .routes(routes!(workflows::list))
        .routes(routes!(workflows::apply, workflows::show))
        .routes(routes!(workflows::validate))
        .routes(routes!(workflows::version))
        .routes(routes!(runs::list))
        .routes(routes!(runs::show))
        .routes(routes!(runs::events))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::approve))
        .routes(routes!(runs::reject))
        .routes(routes!(approvals::list))
        .routes(routes!(incidents::list))
        .routes(routes!(locks::list))
        .routes(routes!(incidents::retry))
        .routes(routes!(incidents::complete))
        .routes(routes!(incidents::skip))
        .routes(routes!(incidents::fail))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(health::audit))
        .routes(routes!(
            interlock::show,
            interlock::engage,
            interlock::release
        ))
        .routes(routes!(status::status))
        .routes(routes!(cluster::cluster))
        .routes(routes!(openapi::openapi))
        .routes(routes!(
            session::sign_in,
            session::whoami,
            session::sign_out
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(plain.clone());
    let v1 = plugins.merge(start).merge(rest);
    let health = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(metrics::metrics))
        .layer(plain);
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", v1)
        .merge(health)
}
