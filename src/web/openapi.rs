//! The OpenAPI document of the JSON API, generated from the handlers'
//! annotations and the types they take and answer.

use axum::Json;
use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{AppState, api, hooks, twins};

#[derive(OpenApi)]
#[openapi(
    info(title = "beian-sms", description = "An emulator of a province's ICP filing SMS verification \
        portal: the ISP API, JSON twins of the portal forms, and test hooks (served only with --test-hooks)."),
    paths(
        api::create, api::list, api::show, api::set_webhook, api::deliveries,
        twins::create_captcha, twins::verify_json, twins::resend_json,
        hooks::captcha_answer, hooks::inbox, hooks::set_handset, hooks::read_clock, hooks::move_clock,
        hooks::reset, hooks::create_isp,
        document,
    ),
    modifiers(&IspKey),
)]
pub struct ApiDoc;

struct IspKey;

impl Modify for IspKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "isp_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/openapi.json", get(document))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ISP API",
    responses((status = 200, description = "OpenAPI 3.1")))]
async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
