//! The API's error answer: a stable machine code, a message a person can act
//! on, and the path of the field at fault. Internal causes are logged here,
//! once, with the request's span, and never shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::flows::FieldError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub errors: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            errors: Vec::new(),
        }
    }

    /// 422 with every field at fault; the first one is named at the top.
    pub fn invalid(errors: Vec<FieldError>) -> ApiError {
        let message = match errors.first() {
            Some(first) => format!("{} {}", first.field, first.message),
            None => "the request is not valid".to_string(),
        };
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_field",
            message,
            errors,
        }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the emulator failed to answer; see its log for this request id",
        )
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for machines: `malformed_json`, `invalid_field`, `unauthorized`,
    /// `not_found`, `idempotency_key_reused`, `internal`, …
    pub code: &'static str,
    pub message: String,
    /// The path of the first field at fault, such as `websites[0].responsible_person.mobile`.
    pub field: Option<String>,
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let field = self.errors.first().map(|e| e.field.clone());
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field,
                errors: self.errors,
            },
        };
        (self.status, Json(body)).into_response()
    }
}
