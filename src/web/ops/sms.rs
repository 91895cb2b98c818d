//! The SMS log and the emulated handsets, as operators see them.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::filings::choices;
use super::{Frame, Operator, PAGE, failure, given, render, urlencode};
use crate::clock::china_display;
use crate::domain::input::Mobile;
use crate::flows::handset;
use crate::store::handsets::{self, HandsetState};
use crate::store::sms;
use crate::web::AppState;
use crate::web::i18n::{Chosen, fill};

pub(in crate::web) const SMS_STATES: [&str; 6] = [
    "scheduled",
    "held",
    "delivered",
    "dropped",
    "undeliverable",
    "cancelled",
];
pub(in crate::web) const HANDSET_STATES: [&str; 3] = ["online", "no_signal", "blocking"];

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
    carrier: String,
    sender: String,
    kind: String,
    kind_name: String,
    state: String,
    state_name: String,
    reason: Option<String>,
    filing: Uuid,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/sms.html")]
struct LogPage {
    frame: Frame,
    states: Vec<(&'static str, String)>,
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

async fn log(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Query(query): Query<LogQuery>,
) -> Response {
    let lang = chosen.lang;
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
            carrier: lang.label("carrier", m.carrier.as_deref().unwrap_or("unknown")),
            sender: m.sender.unwrap_or_default(),
            kind_name: lang.label("sms_kind", &m.reason),
            kind: m.reason,
            state_name: lang.label("sms_state", &m.state),
            state: m.state,
            reason: m.state_reason,
            filing: m.filing_id,
        })
        .collect();
    let page = LogPage {
        frame: operator.frame(&chosen, &lang.texts().ops_sms_title, "/ops/sms"),
        states: choices(lang, "sms_state", SMS_STATES),
        filter_mobile: mobile.map(|m| m.as_str().to_string()).unwrap_or_default(),
        filter_state: sms_state.unwrap_or("").to_string(),
        messages,
        next_page,
    };
    render(&chosen, StatusCode::OK, page)
}

struct Bubble {
    sender: String,
    body: String,
    at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/handset.html")]
struct HandsetPage {
    frame: Frame,
    mobile: String,
    masked: String,
    state: String,
    handset_states: Vec<(&'static str, String)>,
    inbox: Vec<Bubble>,
    notice: Option<String>,
}

/// One handset's inbox, as the phone would show it.
async fn handset_view(
    state: &AppState,
    chosen: &Chosen,
    operator: &Operator,
    raw: &str,
    notice: Option<String>,
) -> Response {
    let lang = chosen.lang;
    let t = lang.texts();
    let Ok(mobile) = Mobile::parse(raw) else {
        return operator.not_found(chosen, &t.ops_not_a_mobile);
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
        return operator.not_found(chosen, &t.ops_no_filing_for_mobile);
    };
    let path = format!("/ops/handsets/{}", mobile.as_str());
    let page = HandsetPage {
        frame: operator.frame(chosen, &t.ops_handset_title, &path),
        masked: mobile.masked(),
        mobile: mobile.as_str().to_string(),
        state: handset_state,
        handset_states: choices(lang, "handset_state", HANDSET_STATES),
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
    render(chosen, StatusCode::OK, page)
}

async fn handset_page(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(mobile): Path<String>,
) -> Response {
    handset_view(&state, &chosen, &operator, &mobile, None).await
}

#[derive(Deserialize)]
struct StateForm {
    state: Option<String>,
    csrf_token: Option<String>,
}

async fn set_state(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(raw): Path<String>,
    Form(form): Form<StateForm>,
) -> Response {
    let lang = chosen.lang;
    let t = lang.texts();
    let Ok(mobile) = Mobile::parse(&raw) else {
        return operator.not_found(&chosen, &t.ops_not_a_mobile);
    };
    let path = format!("/ops/handsets/{}", mobile.as_str());
    if let Some(refusal) = operator.csrf_refusal(&chosen, form.csrf_token.as_deref(), &path) {
        return refusal;
    }
    let new_state = match form.state.as_deref() {
        Some("online") => HandsetState::Online,
        Some("no_signal") => HandsetState::NoSignal,
        Some("blocking") => HandsetState::Blocking,
        _ => {
            return super::refusal(
                operator.frame(&chosen, &t.ops_handset_title, &path),
                StatusCode::UNPROCESSABLE_ENTITY,
                &t.ops_handset_state_invalid,
                "invalid_input",
            );
        }
    };
    if let Err(e) = handset::set_state(&state.core, &mobile, new_state).await {
        return failure(e);
    }
    let name = lang.label("handset_state", new_state.as_str());
    let notice = fill(&t.ops_handset_state_set, &[("state", &name)]);
    handset_view(&state, &chosen, &operator, &raw, Some(notice)).await
}
