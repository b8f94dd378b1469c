//! Request bodies as the handlers take them: read (413 when over the limit,
//! 400 when broken), then as a JSON object or as UTF-8 text.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// The raw body, or why it could not be read.
pub type Body = Result<Bytes, BytesRejection>;

/// A body that could not be read: too large (413) or broken (400).
pub fn bytes(body: Body) -> ApiResult<Bytes> {
    body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, e.body_text())
    })
}

/// A JSON object body; an empty body is an empty object.
pub fn object(body: Body) -> ApiResult<serde_json::Map<String, Value>> {
    let bytes = bytes(body)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}

/// A UTF-8 text body.
pub fn text(body: Body) -> ApiResult<String> {
    String::from_utf8(bytes(body)?.to_vec())
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))
}
