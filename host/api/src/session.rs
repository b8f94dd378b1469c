//! Console sessions: `POST /api/v1/session` turns an API token into an
//! HttpOnly, SameSite=Strict session cookie; `GET` says who is signed in
//! (with the CSRF token the page sends back on every change); `DELETE`
//! signs out.
//!
//! The cookie holds the token itself, so a session is exactly as good as
//! its token: revoking the token ends every session made from it, and the
//! server enforces roles on cookie requests exactly as on bearer requests.
//! The CSRF token is derived from the session's token, so it needs no
//! storage and survives a restart; a page on another site can neither read
//! it nor compute it.

use axum::Json;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cookie::{Cookie, SameSite};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ApiState;
use crate::audit;
use crate::auth::{Caller, caller_for};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{BadRequest, Refused};
use crate::routes::body::{Body, object};

/// The session cookie's name.
pub const COOKIE: &str = "baton_session";

/// The header that carries the CSRF token on a cookie request that changes
/// anything.
pub const CSRF_HEADER: &str = "x-baton-csrf";

/// The token in the request's session cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The CSRF token of the session made from `token`.
pub fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"baton console csrf\n");
    h.update(token.as_bytes());
    hex::encode(h.finalize())[..32].to_string()
}

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "csrf", message)
}

/// Refuse a cookie request that changes anything unless it is same-origin
/// and carries the session's CSRF token.
pub fn check_cross_site(parts: &Parts, csrf: &str) -> Result<(), ApiError> {
    if matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    same_origin(&parts.headers)?;
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if bool::from(sent.as_bytes().ct_eq(csrf.as_bytes())) {
        Ok(())
    } else {
        Err(forbidden(
            "this request came with the console's session cookie but without its CSRF token \
             (X-Baton-CSRF); reload the console, or send the API token as a bearer token",
        ))
    }
}

/// An `Origin` header, when a browser sends one, must name this server.
fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or_default();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or_default();
    if !host.is_empty() && authority.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err(forbidden(&format!(
            "a cross-site request (from `{origin}`) may not use the console's session"
        )))
    }
}

/// Who the caller is, and its session's CSRF token (null for a bearer token).
fn session_view(caller: &Caller) -> Value {
    json!({"name": caller.name, "role": caller.role.as_str(), "csrf": caller.csrf})
}

fn with_cookie(mut response: Response, cookie: Cookie<'_>) -> Response {
    // Percent-encoded: a token chosen through BATON_ADMIN_TOKEN may hold
    // characters a cookie value cannot.
    if let Ok(v) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether the request reached us over TLS (directly or through a proxy
/// that says so), so that the cookie may be marked `Secure`.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `POST /api/v1/session` with `{"token": "..."}`: sign in to the console.
#[utoipa::path(
    post,
    operation_id = "sign_in",
    path = "/session",
    tag = "session",
    request_body(description = "`{\"token\": \"baton_...\"}`: the API token to sign in with", content((Value = "application/json"))),
    responses(
        (status = 200, description = "Signed in: the token's name and role and the session's CSRF token; the session cookie is set", body = Value),
        BadRequest,
        Refused
    )
)]
pub async fn sign_in(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    // A form on another site cannot send JSON without a preflight, which
    // this server never allows; and a browser's Origin must be this server.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return Err(ApiError::bad_request(
            "send the token as JSON: {\"token\": \"baton_...\"} with Content-Type: application/json",
        ));
    }
    same_origin(&headers)?;
    let body = object(body)?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("`token` must be a non-empty string"))?;
    let caller = caller_for(&state, token, Some(csrf_for(token))).await?;
    audit::record(&state, &caller, "session.sign_in", json!({})).await?;
    let cookie = Cookie::build((COOKIE, token.to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_tls(&headers))
        .path("/")
        .build();
    Ok(with_cookie(
        Json(session_view(&caller)).into_response(),
        cookie,
    ))
}

/// `GET /api/v1/session`: who is signed in.
#[utoipa::path(
    get,
    operation_id = "session",
    path = "/session",
    tag = "session",
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The caller's name and role, and the CSRF token of its console session (null for a bearer token)", body = Value),
        Refused
    )
)]
pub async fn whoami(caller: Caller) -> ApiResult<Response> {
    let mut r = Json(session_view(&caller)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// `DELETE /api/v1/session`: sign out (the cookie is cleared, whatever it held).
#[utoipa::path(
    delete,
    operation_id = "sign_out",
    path = "/session",
    tag = "session",
    responses(
        (status = 204, description = "Signed out; the session cookie is cleared")
    )
)]
pub async fn sign_out(headers: HeaderMap) -> Response {
    let cookie = Cookie::build((COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(over_tls(&headers))
        .path("/")
        .max_age(cookie::time::Duration::ZERO)
        .build();
    with_cookie(StatusCode::NO_CONTENT.into_response(), cookie)
}
