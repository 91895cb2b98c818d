//! The filings pages: the list, one filing with its timeline, and review.

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

use super::{Operator, PAGE, STATES, failure, given, urlencode};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops/filings", get(list))
        .route("/ops/filings/{id}", get(show))
        .route("/ops/filings/{id}/approve", post(approve))
        .route("/ops/filings/{id}/reject", post(reject))
}
use crate::clock::china_display;
use crate::domain::input::Mobile;
use crate::domain::kind::FilingKind;
use crate::flows::review::{self, ReviewError};
use crate::flows::view;
use crate::store::events;
use crate::store::filings::{self, OpsFilter};
use crate::web::AppState;

struct Row {
    id: Uuid,
    submitted: String,
    province: String,
    kind: String,
    isp: String,
    reference: String,
    state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/filings.html")]
struct ListPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    states: &'static [&'static str],
    kinds: Vec<&'static str>,
    filter_state: String,
    filter_province: String,
    filter_kind: String,
    q: String,
    filings: Vec<Row>,
    next_page: Option<String>,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    state: Option<String>,
    province: Option<String>,
    kind: Option<String>,
    q: Option<String>,
    before: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> Response {
    let search = given(&query.q);
    let mobile = search.and_then(|q| Mobile::parse(q).ok());
    let filter = OpsFilter {
        state: given(&query.state).filter(|s| STATES.contains(s)),
        province: given(&query.province)
            .and_then(crate::domain::province::find)
            .map(|p| p.code),
        kind: given(&query.kind)
            .and_then(FilingKind::parse)
            .map(|k| k.as_str()),
        search,
        mobile: mobile.as_ref().map(Mobile::as_str),
        before: query.before,
        limit: PAGE,
    };
    let listed = async {
        let mut conn = state.core.pool.acquire().await?;
        filings::list_all(&mut conn, &filter).await
    }
    .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return failure(e),
    };
    let next_page = (listed.len() as i64 == PAGE)
        .then(|| listed.last().map(|f| f.seq))
        .flatten()
        .map(|seq| {
            let keep = |name: &str, value: Option<&str>| {
                value
                    .map(|v| format!("&{name}={}", urlencode(v)))
                    .unwrap_or_default()
            };
            format!(
                "/ops/filings?before={seq}{}{}{}{}",
                keep("state", filter.state),
                keep("province", filter.province),
                keep("kind", filter.kind),
                keep("q", filter.search)
            )
        });
    let page = ListPage {
        title: "Filings",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: Some(operator.session.username.clone()),
        csrf_token: operator.session.csrf_token.clone(),
        states: &STATES,
        kinds: FilingKind::ALL.iter().map(|k| k.as_str()).collect(),
        filter_state: filter.state.unwrap_or("").to_string(),
        filter_province: filter.province.unwrap_or("").to_string(),
        filter_kind: filter.kind.unwrap_or("").to_string(),
        q: search.unwrap_or("").to_string(),
        filings: listed
            .into_iter()
            .map(|f| Row {
                id: f.id,
                submitted: china_display(f.submitted_at),
                province: f.province,
                kind: f.kind,
                isp: f.isp_name,
                reference: f.isp_reference,
                state: f.state,
            })
            .collect(),
        next_page,
    };
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], page).into_response()
}

struct FilingFacts {
    id: Uuid,
    reference: String,
    state: String,
    reason: Option<String>,
    icp_number: Option<String>,
    province: String,
    kind: String,
    isp: String,
    submitted: String,
    deadline: String,
    subject: String,
    websites: Vec<String>,
}

struct VerificationLine {
    mobile: String,
    person: String,
    roles: String,
    state: String,
    failures: i32,
}

struct EventLine {
    at: String,
    kind: String,
    detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/filing.html")]
struct FilingPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    f: FilingFacts,
    verifications: Vec<VerificationLine>,
    revealed: bool,
    events: Vec<EventLine>,
    notice: Option<String>,
    notice_tone: &'static str,
    notice_outcome: &'static str,
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    reveal: Option<String>,
}

/// The filing page, with an optional notice of what was just done.
async fn filing_page(
    state: &AppState,
    operator: &Operator,
    id: Uuid,
    revealed: bool,
    notice: Option<(StatusCode, &'static str, &'static str, String)>,
) -> Response {
    let loaded = async {
        let mut conn = state.core.pool.acquire().await?;
        let Some((isp_id, filing)) = view::filing(&mut conn, id, false).await? else {
            return Ok(None);
        };
        let isp = filings::isp_name(&mut conn, isp_id).await?;
        let verifications = filings::ops_verifications(&mut conn, id).await?;
        let events = events::for_filing(&mut conn, id).await?;
        Ok::<_, sqlx::Error>(Some((filing, isp, verifications, events)))
    }
    .await;
    let (filing, isp, verifications, events) = match loaded {
        Ok(Some(loaded)) => loaded,
        Ok(None) => return (StatusCode::NOT_FOUND, "There is no such filing.").into_response(),
        Err(e) => return failure(e),
    };
    let person = |v: &serde_json::Value| {
        let p = &v["responsible_person"];
        let mobile = p["mobile"].as_str().and_then(|m| Mobile::parse(m).ok());
        let mobile = mobile
            .map(|m| {
                if revealed {
                    m.as_str().to_string()
                } else {
                    m.masked()
                }
            })
            .unwrap_or_default();
        format!(
            "{} — {} {}",
            v["name"].as_str().unwrap_or(""),
            p["name"].as_str().unwrap_or(""),
            mobile
        )
    };
    let websites = filing
        .websites
        .as_array()
        .map(|ws| {
            ws.iter()
                .map(|w| {
                    let domains: Vec<&str> = w["domains"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|d| d.as_str())
                        .collect();
                    format!("{} ({})", person(w), domains.join(", "))
                })
                .collect()
        })
        .unwrap_or_default();
    let facts = FilingFacts {
        id: filing.id,
        reference: filing.isp_reference.clone(),
        state: filing.state.clone(),
        reason: filing
            .return_reason
            .clone()
            .or(filing.reject_reason.clone()),
        icp_number: filing.icp_number.clone(),
        province: filing.province.clone(),
        kind: filing.kind.clone(),
        isp,
        submitted: china_display(filing.submitted_at),
        deadline: china_display(filing.deadline),
        subject: person(&filing.subject),
        websites,
    };
    let verifications = verifications
        .into_iter()
        .map(|v| {
            let mobile = Mobile::parse(&v.mobile).map(|m| {
                if revealed {
                    m.as_str().to_string()
                } else {
                    m.masked()
                }
            });
            VerificationLine {
                mobile: mobile.unwrap_or_default(),
                person: v.person_name,
                roles: v.roles.join(", "),
                state: v.state,
                failures: v.certificate_failures,
            }
        })
        .collect();
    let events = events
        .into_iter()
        .map(|e| EventLine {
            at: china_display(e.at),
            kind: e.kind,
            detail: e.detail.to_string(),
        })
        .collect();
    let (status, tone, outcome, notice) = match notice {
        Some((status, tone, outcome, text)) => (status, tone, outcome, Some(text)),
        None => (StatusCode::OK, "", "", None),
    };
    let page = FilingPage {
        title: "Filing",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: Some(operator.session.username.clone()),
        csrf_token: operator.session.csrf_token.clone(),
        f: facts,
        verifications,
        revealed,
        events,
        notice,
        notice_tone: tone,
        notice_outcome: outcome,
    };
    (status, [(CACHE_CONTROL, "no-store")], page).into_response()
}

fn filing_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

async fn show(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let Some(id) = filing_id(&id) else {
        return (StatusCode::NOT_FOUND, "There is no such filing.").into_response();
    };
    let revealed = query.reveal.as_deref() == Some("1");
    filing_page(&state, &operator, id, revealed, None).await
}

#[derive(Deserialize)]
struct ReviewForm {
    csrf_token: Option<String>,
    reason: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    review_action(&state, &operator, &id, form, true).await
}

async fn reject(
    State(state): State<AppState>,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    review_action(&state, &operator, &id, form, false).await
}

async fn review_action(
    state: &AppState,
    operator: &Operator,
    id: &str,
    form: ReviewForm,
    approving: bool,
) -> Response {
    let Some(id) = filing_id(id) else {
        return (StatusCode::NOT_FOUND, "There is no such filing.").into_response();
    };
    if !operator.csrf_ok(form.csrf_token.as_deref().unwrap_or("")) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired; go back and try again.",
        )
            .into_response();
    }
    let who = operator.session.username.as_str();
    let done = match approving {
        true => review::approve(&state.core, id, who)
            .await
            .map(|number| format!("Approved as {number}.")),
        false => review::reject(&state.core, id, form.reason.as_deref().unwrap_or(""), who)
            .await
            .map(|()| "Rejected.".to_string()),
    };
    let notice = match done {
        Ok(text) => (
            StatusCode::OK,
            "ok",
            if approving { "approved" } else { "rejected" },
            text,
        ),
        Err(ReviewError::NotAwaitingReview) => (
            StatusCode::CONFLICT,
            "error",
            "not_awaiting_review",
            "The filing is not awaiting review.".to_string(),
        ),
        Err(ReviewError::Invalid(e)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "error",
            "invalid_input",
            format!("The reason {}.", e.message),
        ),
        Err(ReviewError::Database(e)) => return failure(e),
    };
    filing_page(state, operator, id, false, Some(notice)).await
}
