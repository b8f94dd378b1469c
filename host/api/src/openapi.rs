//! The OpenAPI 3 description of the API, generated from the handlers'
//! `#[utoipa::path]` attributes. The router is built from the same
//! attributes ([`crate::app`]), so a route cannot exist without its entry.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::Modify;
use utoipa::openapi::OpenApi as Spec;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use crate::ApiState;
use crate::auth::{Caller, Role};
use crate::error::{ApiResult, ErrorBody};

/// The document's info, security scheme and shared schemas; the paths come
/// from the router.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Baton",
        description = "Process orchestration for industrial sites: upload task plugins, apply workflows, start, watch and steer runs.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    components(schemas(
        ErrorBody,
        crate::routes::status::Retention,
        crate::routes::status::RetentionDeleted
    )),
    modifiers(&Bearer),
    tags(
        (name = "plugins", description = "Task plugins (WebAssembly components)"),
        (name = "workflows", description = "Workflow definitions and their versions"),
        (name = "runs", description = "Runs: start, inspect, follow, cancel, approve"),
        (name = "tokens", description = "API tokens and roles"),
        (name = "interlock", description = "The safety interlock"),
        (name = "audit", description = "Who changed what, and when"),
        (name = "session", description = "Console sign-in: an API token as an HttpOnly session cookie"),
        (name = "health", description = "Health, readiness, metrics and this document")
    )
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, spec: &mut Spec) {
        let components = spec.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `POST /api/v1/tokens`, or the first admin token printed at the first start",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::session::COOKIE,
                "The console's session cookie, set by `POST /api/v1/session`. A request that \
                 changes anything must also send the session's CSRF token in `X-Baton-CSRF`.",
            ))),
        );
    }
}

/// 400: a malformed body, header or query string.
#[derive(utoipa::IntoResponses)]
#[response(status = 400, description = "Malformed request")]
pub struct BadRequest(pub ErrorBody);

/// 401 and 403: every endpoint but the health checks needs a token with a role.
#[derive(utoipa::IntoResponses)]
pub enum Refused {
    /// No token, or an unknown or revoked one.
    #[response(status = 401, description = "Missing, unknown or revoked token")]
    Unauthorized(ErrorBody),
    /// The token's role is too low.
    #[response(status = 403, description = "The token's role is too low")]
    Forbidden(ErrorBody),
}

/// 404: an unknown id or name.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such resource")]
pub struct NotFound(pub ErrorBody);

/// 409: the call conflicts with the current state.
#[derive(utoipa::IntoResponses)]
#[response(status = 409, description = "Conflict")]
pub struct Conflict(pub ErrorBody);

/// 413: the body is over the limit.
#[derive(utoipa::IntoResponses)]
#[response(status = 413, description = "Body too large")]
pub struct TooLarge(pub ErrorBody);

/// 422: an invalid workflow or component, with every problem.
#[derive(utoipa::IntoResponses)]
#[response(status = 422, description = "Invalid")]
pub struct Invalid(pub ErrorBody);

/// 429: the token holds as many event streams as it may.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "The token has `server.max_streams_per_token` event streams open already"
)]
pub struct TooManyStreams(pub ErrorBody);

/// 503: the store does not answer, or the server is shutting down.
#[derive(utoipa::IntoResponses)]
#[response(status = 503, description = "Unavailable")]
pub struct Unavailable(pub ErrorBody);

/// The whole document.
pub fn spec() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| {
        let (_, mut spec) =
            crate::routes_with_spec(0, 0, std::time::Duration::ZERO).split_for_parts();
        add_timeout(&mut spec);
        add_session(&mut spec);
        spec.to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    })
}

/// Every operation may answer 408 (`server.request_timeout`): it is added to
/// each one here rather than to every handler's attribute.
fn add_timeout(spec: &mut Spec) {
    let timeout = ResponseBuilder::new()
        .description("Not answered within the server's request timeout")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    for operation in operations(spec) {
        operation
            .responses
            .responses
            .entry("408".into())
            .or_insert_with(|| timeout.clone().into());
    }
}

/// Every operation of every path.
fn operations(spec: &mut Spec) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    spec.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
    })
}

/// Every operation that takes a bearer token also takes the console's
/// session cookie (with the CSRF header on changes): the second, equivalent
/// way to authenticate is added to each one here.
fn add_session(spec: &mut Spec) {
    use utoipa::openapi::security::SecurityRequirement;
    for operation in operations(spec) {
        if let Some(security) = operation.security.as_mut()
            && security.len() == 1
        {
            security.push(SecurityRequirement::new("session", Vec::<String>::new()));
        }
    }
}

/// `GET /api/v1/openapi.json`.
#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "health",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This document", body = Object, content_type = "application/json"),
        Refused
    )
)]
pub async fn openapi(State(_): State<ApiState>, caller: Caller) -> ApiResult<impl IntoResponse> {
    caller.require(Role::Viewer)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], spec()))
}
