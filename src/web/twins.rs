//! The JSON twins of the portal forms, for integration tests. They call the
//! same flows as the pages, so every rule, counter, limit and captcha is shared.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::json::JsonBody;
use super::{ApiError, AppState};
use crate::domain::province::{self, Province};
use crate::flows::resend::{ResendInput, ResendOutcome, resend};
use crate::flows::verify::{VerifyInput, VerifyOutcome, verify};
use crate::flows::{FieldError, captcha};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/captchas", post(create_captcha))
        .route("/api/v1/verifications", post(verify_json))
        .route("/api/v1/resends", post(resend_json))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CaptchaCreated {
    pub id: Uuid,
    /// The picture, drawn when fetched.
    pub image_url: String,
}

/// Makes a captcha for a twin request; its answer is read through the test
/// hook, or off the picture.
#[utoipa::path(post, path = "/api/v1/captchas", tag = "portal twins",
    responses((status = 201, body = CaptchaCreated), (status = 429, description = "over the per-address limit")))]
async fn create_captcha(State(state): State<AppState>) -> Result<Response, ApiError> {
    let id = captcha::create(&state.core).await?;
    let body = CaptchaCreated {
        id,
        image_url: format!("/captchas/{id}/image"),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A twin request: the province, then the form's fields. This only
/// describes the body for the OpenAPI document; `twin` reads it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Twin<T> {
    /// A pilot province's code, such as `gs`.
    pub province: Option<String>,
    #[serde(flatten)]
    pub form: T,
}

/// Splits a twin request into its province and its form. The form is read
/// on its own, not through `#[serde(flatten)]`, so that a field of the wrong
/// type is named by its path.
fn twin<T: serde::de::DeserializeOwned>(
    state: &AppState,
    body: serde_json::Value,
) -> Result<(&'static Province, T), ApiError> {
    #[derive(Deserialize)]
    struct ProvinceOnly {
        province: Option<String>,
    }
    let named: ProvinceOnly = super::json::from_value(body.clone())?;
    let province = pilot(state, named.province.as_deref())?;
    Ok((province, super::json::from_value(body)?))
}

/// The pilot province a twin request names.
fn pilot(state: &AppState, code: Option<&str>) -> Result<&'static Province, ApiError> {
    let code = code.map(str::trim).unwrap_or("");
    province::find(code)
        .filter(|p| state.core.settings.is_pilot(p.code))
        .ok_or_else(|| {
            ApiError::invalid(vec![FieldError::new(
                "province",
                "is not a pilot province's code",
            )])
        })
}

/// The verify form as JSON: the same rules, counters and captchas as the page.
#[utoipa::path(post, path = "/api/v1/verifications", tag = "portal twins",
    request_body = Twin<VerifyInput>,
    responses((status = 200, body = VerifyOutcome), (status = 422, body = super::error::ErrorBody),
              (status = 429, description = "over the per-address limit")))]
async fn verify_json(
    State(state): State<AppState>,
    body: JsonBody<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (province, form) = twin::<VerifyInput>(&state, body.value)?;
    let outcome = verify(&state.core, province, &form).await?;
    Ok(Json(
        serde_json::to_value(outcome).expect("outcomes serialise"),
    ))
}

/// The resend form as JSON: the same rules, limits and captchas as the page.
#[utoipa::path(post, path = "/api/v1/resends", tag = "portal twins",
    request_body = Twin<ResendInput>,
    responses((status = 200, body = ResendOutcome), (status = 422, body = super::error::ErrorBody),
              (status = 429, description = "over the per-address limit")))]
async fn resend_json(
    State(state): State<AppState>,
    body: JsonBody<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (province, form) = twin::<ResendInput>(&state, body.value)?;
    let outcome = resend(&state.core, province, &form)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        serde_json::to_value(outcome).expect("outcomes serialise"),
    ))
}

/// The answer to a JSON-twin request over the per-address limit.
pub fn rate_limited() -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({ "outcome": "rate_limited" })),
    )
        .into_response()
}
