//! API errors: always `{"error": {"code", "message", "details"}}` with the
//! right status. Internal failures are logged and reported without their
//! internals.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use baton_engine::Error as EngineError;
use serde_json::{Value, json};

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured detail, e.g. every problem of an invalid workflow.
    pub details: Value,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

/// The body of every error response.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// `error` in [`ErrorBody`].
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_workflow`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured detail (e.g. `{"problems": [...]}`), or null.
    pub details: Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                details: self.details,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(m) => Self::not_found(m),
            EngineError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::BadRequest(m) => Self::bad_request(m),
            EngineError::Parse(p) => Self {
                details: json!({"line": p.line, "column": p.column}),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_workflow",
                    format!("the workflow does not parse: {p}"),
                )
            },
            EngineError::Invalid(problems) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_workflow",
                message: format!("the workflow has {} problem(s)", problems.0.len()),
                details: json!({"problems": problems.0}),
            },
            EngineError::Plugin(e) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_plugin",
                e.to_string(),
            ),
            EngineError::Interlock => Self::new(StatusCode::CONFLICT, "interlock", e.to_string()),
            EngineError::ShuttingDown => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is shutting down",
            ),
            EngineError::Unavailable(m) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            EngineError::Fenced(run) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("run {run} is moving to another node; try again"),
            ),
            other => internal(other),
        }
    }
}

impl From<baton_store::Error> for ApiError {
    fn from(e: baton_store::Error) -> Self {
        match e {
            baton_store::Error::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            other => internal(other),
        }
    }
}

/// Log the real cause; tell the client only that it was ours.
pub fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "internal error");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
}

/// A query string, refused with a JSON 400 that names the bad parameter
/// (axum's own `Query` answers in plain text).
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;
