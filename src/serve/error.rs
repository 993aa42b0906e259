//! Every refusal and failure the app answers with: a status and a message that
//! says what to do, sent as `{"error": message}` so the page can show it.

use axum::extract::rejection::PathRejection;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::LengthLimitError;
use serde::Serialize;

/// An error answer: a status and a message, sent as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: String) -> Self {
        Self { status, message }
    }

    pub fn bad_request(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: String) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A body over its [`body_limit`](super::body_limit) of `limit` bytes, whether its
    /// declared length says so or reading it does.
    pub fn too_large(limit: usize, method: &Method) -> Self {
        let size = match limit >> 20 {
            0 => format!("{} KiB", limit >> 10),
            mib => format!("{mib} MiB"),
        };
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the {size} limit of this {method} request"),
        )
    }

    /// Work on another thread that panicked: the panic's message went to the console.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the work failed unexpectedly; see the server's console".into(),
        )
    }

    /// A URL path whose parts do not parse (a digit that is not a number).
    pub fn from_path(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }

    /// A body that could not be read: too large, or cut off.
    pub fn from_read(err: axum::Error, limit: usize, method: &Method) -> Self {
        let err = err.into_inner();
        if err.is::<LengthLimitError>() {
            Self::too_large(limit, method)
        } else {
            Self::bad_request(format!("cannot read the request body: {err}"))
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}
