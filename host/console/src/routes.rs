//! `/` (the page) and `/console/{path}` (its scripts, styles and licences),
//! with caching and security headers.
//!
//! - The page is `no-cache`: a browser revalidates it on every visit (a
//!   `304` when nothing changed), so an upgrade shows at once.
//! - A file asked for with the current build's `?v=` never changes, so it
//!   is cached for a year as `immutable`; any other request for it is
//!   revalidated like the page.
//! - Every answer has a strict Content-Security-Policy: scripts, styles and
//!   connections only to this origin, no frames. The page can make no
//!   request off the machine.

use std::sync::OnceLock;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::assets::{self, Asset};

/// The policy every console answer carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The console's routes, for any router state.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/console", get(page))
        .route("/console/", get(page))
        .route("/console/{*path}", get(file))
}

/// The page with the build's id in the URLs it loads, rendered once. Its
/// validator is the build's id: the page changes whenever any file does.
fn rendered_page() -> Option<Asset> {
    static PAGE: OnceLock<Option<(Vec<u8>, &'static str)>> = OnceLock::new();
    let (body, content_type) = PAGE
        .get_or_init(|| {
            let asset = assets::get("index.html")?;
            let html =
                String::from_utf8_lossy(&asset.body).replace("{{build}}", assets::build_id());
            Some((html.into_bytes(), asset.content_type))
        })
        .as_ref()?;
    Some(Asset {
        body: body.as_slice().into(),
        content_type,
        etag: format!("\"{}\"", assets::build_id()),
    })
}

async fn page(headers: HeaderMap) -> Response {
    match rendered_page() {
        Some(page) => answer(&headers, page, false),
        None => missing(),
    }
}

async fn file(Path(path): Path<String>, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    if path == "index.html" {
        return page(headers).await;
    }
    let Some(asset) = assets::get(&path) else {
        return missing();
    };
    let current = query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("v=")))
        .is_some_and(|v| v == assets::build_id());
    answer(&headers, asset, current)
}

fn answer(request: &HeaderMap, asset: Asset, immutable: bool) -> Response {
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(asset.body.into_owned()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(h);
    response
}

fn missing() -> Response {
    let mut r = (StatusCode::NOT_FOUND, "no such console file").into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(r.headers_mut());
    r
}

fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
