//! The SMS log and the emulated handsets, as operators see them.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header::CACHE_CONTROL;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::{Operator, PAGE, failure, given, urlencode};
use crate::clock::china_display;
use crate::domain::input::Mobile;
use crate::flows::handset;
use crate::store::handsets::{self, HandsetState};
use crate::store::sms;
use crate::web::AppState;

const SMS_STATES: [&str; 6] = [
    "scheduled",
    "held",
    "delivered",
    "dropped",
    "undeliverable",
    "cancelled",
];
const HANDSET_STATES: [&str; 3] = ["online", "no_signal", "blocking"];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/sms", get(log))
        .route("/ops/handsets/{mobile}", get(handset_page))
        .route("/ops/handsets/{mobile}/state", post(set_state))
}

struct Line {
    created: String,
    due: String,
    mobile: String,
    masked: String,
    carrier: &'static str,
    sender: String,
    kind: &'static str,
    state: String,
    reason: Option<String>,
    filing: Uuid,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/sms.html")]
struct LogPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    states: &'static [&'static str],
    filter_mobile: String,
    filter_state: String,
    messages: Vec<Line>,
    next_page: Option<String>,
}

#[derive(Deserialize)]
struct LogQuery {
    mobile: Option<String>,
    state: Option<String>,
    before: Option<i64>,
}

fn carrier_name(carrier: Option<&str>) -> &'static str {
    match carrier {
        Some("telecom") => "China Telecom",
        Some("unicom") => "China Unicom",
        Some("mobile") => "China Mobile",
        _ => "unknown",
    }
}

fn kind_name(reason: &str) -> &'static str {
    match reason {
        "first" => "first",
        "manual_resend" => "manual resend",
        "noon_resend" => "noon resend",
        _ => "other",
    }
}

async fn log(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<LogQuery>,
) -> Response {
    let mobile = given(&query.mobile).and_then(|m| Mobile::parse(m).ok());
    let sms_state = given(&query.state).filter(|s| SMS_STATES.contains(s));
    let listed = async {
        let mut conn = state.core.pool.acquire().await?;
        sms::log(
            &mut conn,
            mobile.as_ref().map(Mobile::as_str),
            sms_state,
            query.before,
            PAGE,
        )
        .await
    }
    .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return failure(e),
    };
    let next_page = (listed.len() as i64 == PAGE)
        .then(|| listed.last().map(|m| m.seq))
        .flatten()
        .map(|seq| {
            let mut next = format!("/ops/sms?before={seq}");
            if let Some(m) = &mobile {
                next.push_str(&format!("&mobile={}", m.as_str()));
            }
            if let Some(s) = sms_state {
                next.push_str(&format!("&state={}", urlencode(s)));
            }
            next
        });
    let messages = listed
        .into_iter()
        .map(|m| Line {
            created: china_display(m.created_at),
            due: china_display(m.due_at),
            masked: Mobile::parse(&m.mobile)
                .map(|p| p.masked())
                .unwrap_or_default(),
            mobile: m.mobile,
            carrier: carrier_name(m.carrier.as_deref()),
            sender: m.sender.unwrap_or_default(),
            kind: kind_name(&m.reason),
            state: m.state,
            reason: m.state_reason,
            filing: m.filing_id,
        })
        .collect();
    let page = LogPage {
        title: "SMS log",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: Some(operator.session.username.clone()),
        csrf_token: operator.session.csrf_token.clone(),
        states: &SMS_STATES,
        filter_mobile: mobile.map(|m| m.as_str().to_string()).unwrap_or_default(),
        filter_state: sms_state.unwrap_or("").to_string(),
        messages,
        next_page,
    };
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], page).into_response()
}

struct Bubble {
    sender: String,
    body: String,
    at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/handset.html")]
struct HandsetPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    mobile: String,
    masked: String,
    state: String,
    handset_states: &'static [&'static str],
    inbox: Vec<Bubble>,
    notice: Option<String>,
}

/// One handset's inbox, as the phone would show it.
async fn handset_view(
    state: &AppState,
    operator: &Operator,
    raw: &str,
    notice: Option<String>,
) -> Response {
    let Ok(mobile) = Mobile::parse(raw) else {
        return (StatusCode::NOT_FOUND, "That is not a mobile number.").into_response();
    };
    let loaded = async {
        let mut conn = state.core.pool.acquire().await?;
        let handset_state = sms::handset_state(&mut conn, mobile.as_str()).await?;
        let inbox = handsets::inbox(&mut conn, mobile.as_str(), None).await?;
        Ok::<_, sqlx::Error>((handset_state, inbox))
    }
    .await;
    let (handset_state, inbox) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return failure(e),
    };
    let Some(handset_state) = handset_state else {
        return (StatusCode::NOT_FOUND, "No filing named this mobile number.").into_response();
    };
    let page = HandsetPage {
        title: "Handset",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: Some(operator.session.username.clone()),
        csrf_token: operator.session.csrf_token.clone(),
        masked: mobile.masked(),
        mobile: mobile.as_str().to_string(),
        state: handset_state,
        handset_states: &HANDSET_STATES,
        inbox: inbox
            .into_iter()
            .map(|m| Bubble {
                sender: m.sender.unwrap_or_default(),
                body: m.body,
                at: m.delivered_at.map(china_display).unwrap_or_default(),
            })
            .collect(),
        notice,
    };
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], page).into_response()
}

async fn handset_page(
    State(state): State<AppState>,
    operator: Operator,
    Path(mobile): Path<String>,
) -> Response {
    handset_view(&state, &operator, &mobile, None).await
}

#[derive(Deserialize)]
struct StateForm {
    state: Option<String>,
    csrf_token: Option<String>,
}

async fn set_state(
    State(state): State<AppState>,
    operator: Operator,
    Path(raw): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    if !operator.csrf_ok(form.csrf_token.as_deref().unwrap_or("")) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired; go back and try again.",
        )
            .into_response();
    }
    let new_state = match form.state.as_deref() {
        Some("online") => HandsetState::Online,
        Some("no_signal") => HandsetState::NoSignal,
        Some("blocking") => HandsetState::Blocking,
        _ => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                "The state must be online, no_signal or blocking.",
            )
                .into_response();
        }
    };
    let Ok(mobile) = Mobile::parse(&raw) else {
        return (StatusCode::NOT_FOUND, "That is not a mobile number.").into_response();
    };
    if let Err(e) = handset::set_state(&state.core, &mobile, new_state).await {
        return failure(e);
    }
    let notice = format!("The handset is now {}.", new_state.as_str());
    handset_view(&state, &operator, &raw, Some(notice)).await
}
