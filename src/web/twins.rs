//! The JSON twins of the portal forms, for integration tests. They call the
//! same flows as the pages, so every rule, counter, limit and captcha is shared.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::json::JsonBody;
use super::{ApiError, AppState};
use crate::domain::province::{self, Province};
use crate::flows::resend::{ResendInput, resend};
use crate::flows::verify::{VerifyInput, verify};
use crate::flows::{FieldError, captcha};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/captchas", post(create_captcha))
        .route("/api/v1/verifications", post(verify_json))
        .route("/api/v1/resends", post(resend_json))
}

async fn create_captcha(State(state): State<AppState>) -> Result<Response, ApiError> {
    let id = captcha::create(&state.core).await?;
    let body = json!({ "id": id, "image_url": format!("/captchas/{id}/image") });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
struct Twin<T> {
    province: Option<String>,
    #[serde(flatten)]
    form: T,
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

async fn verify_json(
    State(state): State<AppState>,
    body: JsonBody<Twin<VerifyInput>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let province = pilot(&state, body.value.province.as_deref())?;
    let outcome = verify(&state.core, province, &body.value.form).await?;
    Ok(Json(
        serde_json::to_value(outcome).expect("outcomes serialise"),
    ))
}

async fn resend_json(
    State(state): State<AppState>,
    body: JsonBody<Twin<ResendInput>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let province = pilot(&state, body.value.province.as_deref())?;
    let outcome = resend(&state.core, province, &body.value.form)
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
