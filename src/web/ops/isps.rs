//! The ISPs: add one (its key shown once), set its webhook receiver, and see
//! its webhook deliveries.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{Operator, failure, given};
use crate::clock::china_display;
use crate::domain::input::text_field;
use crate::flows::isp;
use crate::store::{isps, webhooks};
use crate::web::AppState;

/// Deliveries shown per ISP.
const RECENT: i64 = 20;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/isps", get(list).post(create))
        .route("/ops/isps/{id}/webhook", post(set_webhook))
}

struct DeliveryLine {
    filing: Uuid,
    kind: String,
    created: String,
    state: String,
    tries: String,
}

struct IspLine {
    id: Uuid,
    name: String,
    webhook_url: String,
    created: String,
    filings: i64,
    deliveries: Vec<DeliveryLine>,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/isps.html")]
struct IspsPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    isps: Vec<IspLine>,
    new_key: Option<String>,
    new_secret: Option<String>,
    error: Option<String>,
}

/// The page, with what was just made or what was wrong.
async fn page(
    state: &AppState,
    operator: &Operator,
    made: Option<isp::NewIsp>,
    error: Option<String>,
) -> Response {
    let loaded = async {
        let mut conn = state.core.pool.acquire().await?;
        let mut lines = Vec::new();
        for listed in isps::list(&mut conn).await? {
            let deliveries = webhooks::list_for_isp(&mut conn, listed.id, None, RECENT).await?;
            lines.push(IspLine {
                id: listed.id,
                name: listed.name,
                webhook_url: listed.webhook_url.unwrap_or_default(),
                created: china_display(listed.created_at),
                filings: listed.filings,
                deliveries: deliveries
                    .into_iter()
                    .map(|d| DeliveryLine {
                        filing: d.filing_id,
                        kind: d.event_type,
                        created: china_display(d.created_at),
                        state: d.state,
                        tries: d
                            .attempts
                            .iter()
                            .map(|a| {
                                a.status.map_or_else(
                                    || a.error.clone().unwrap_or_default(),
                                    |s| s.to_string(),
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                    .collect(),
            });
        }
        Ok::<_, sqlx::Error>(lines)
    }
    .await;
    let lines = match loaded {
        Ok(lines) => lines,
        Err(e) => return failure(e),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let (new_key, new_secret) = match made {
        Some(made) => (Some(made.api_key), made.webhook_secret),
        None => (None, None),
    };
    let page = IspsPage {
        title: "ISPs",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: Some(operator.session.username.clone()),
        csrf_token: operator.session.csrf_token.clone(),
        isps: lines,
        new_key,
        new_secret,
        error,
    };
    (status, [(CACHE_CONTROL, "no-store")], page).into_response()
}

async fn list(State(state): State<AppState>, operator: Operator) -> Response {
    page(&state, &operator, None, None).await
}

#[derive(Deserialize)]
struct IspForm {
    name: Option<String>,
    webhook_url: Option<String>,
    csrf_token: Option<String>,
}

fn webhook_url(form: &IspForm) -> Result<Option<String>, String> {
    given(&form.webhook_url)
        .map(|url| isp::webhook_url(url).map_err(|e| format!("The webhook URL {}.", e.message)))
        .transpose()
}

async fn create(
    State(state): State<AppState>,
    operator: Operator,
    Form(form): Form<IspForm>,
) -> Response {
    if !operator.csrf_ok(form.csrf_token.as_deref().unwrap_or("")) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired; go back and try again.",
        )
            .into_response();
    }
    let name = match text_field(form.name.as_deref().unwrap_or(""), 200) {
        Ok(name) => name,
        Err(e) => {
            return page(
                &state,
                &operator,
                None,
                Some(format!("The name {}.", e.message())),
            )
            .await;
        }
    };
    let url = match webhook_url(&form) {
        Ok(url) => url,
        Err(message) => return page(&state, &operator, None, Some(message)).await,
    };
    match isp::create(&state.core, &name, url.as_deref()).await {
        Ok(made) => page(&state, &operator, Some(made), None).await,
        Err(e) => failure(e),
    }
}

async fn set_webhook(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<IspForm>,
) -> Response {
    if !operator.csrf_ok(form.csrf_token.as_deref().unwrap_or("")) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired; go back and try again.",
        )
            .into_response();
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return (StatusCode::NOT_FOUND, "There is no such ISP.").into_response();
    };
    let url = match webhook_url(&form) {
        Ok(url) => url,
        Err(message) => return page(&state, &operator, None, Some(message)).await,
    };
    match isp::set_webhook(&state.core, id, url.as_deref()).await {
        Ok(_) => page(&state, &operator, None, None).await,
        Err(sqlx::Error::RowNotFound) => {
            (StatusCode::NOT_FOUND, "There is no such ISP.").into_response()
        }
        Err(e) => failure(e),
    }
}
