//! The one error type of the HTTP API: every failure leaves the server as
//! `{"error": {"code": "...", "message": "..."}}` with the status of DESIGN.md section 8
//! (400 malformed or invalid input, 401 API key, 404, 405, 413 body too large, 429 session cap or
//! overload, 503 not ready, 504 deadline). The error also rides on the response's extensions, so the
//! metrics layer can count errors by code and the Open Inference Protocol routes can answer the same
//! error in their own body, `{"error": "..."}` ([`ApiError::v2_response`]).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// 400: the body is not JSON.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 400: JSON of the wrong shape (missing or unknown field, wrong type, bad value).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 400: a vector of the wrong length.
    pub fn dimension(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "wrong_dimension", message)
    }

    /// 400: NaN, infinite, or too large for `f32`.
    pub fn non_finite(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "non_finite", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("the body is larger than {limit} bytes"))
    }

    pub fn not_ready(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", message)
    }

    pub fn deadline(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "deadline_exceeded", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl ApiError {
    fn respond(self, body: serde_json::Value) -> Response {
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp.extensions_mut().insert(self);
        resp
    }

    /// The same error as the Open Inference Protocol v2 answers it: `{"error": "code: message"}`,
    /// with the same status (the code leads the message, since v2 has no field for it).
    pub fn v2_response(self) -> Response {
        let body = json!({ "error": format!("{}: {}", self.code, self.message) });
        self.respond(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        self.respond(body)
    }
}
