//! The filings pages: the list, one filing with its timeline, and review.

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

use super::{Frame, Operator, PAGE, STATES, failure, given, redirect, render, urlencode};
use crate::web::i18n::{Chosen, Lang, fill};

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
use crate::flows::{expire, view};
use crate::store::events;
use crate::store::filings::{self, OpsFilter};
use crate::store::isps;
use crate::web::AppState;

struct Row {
    id: Uuid,
    submitted: String,
    province: String,
    kind: String,
    isp: String,
    reference: String,
    state: String,
    state_name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/filings.html")]
struct ListPage {
    frame: Frame,
    /// Each choice of a filter: its value and its name in the page's language.
    states: Vec<(&'static str, String)>,
    kinds: Vec<(&'static str, String)>,
    /// Every province, (code, name), for the province filter.
    provinces: Vec<(&'static str, String)>,
    /// Every ISP, (id, name), for the ISP filter.
    isps: Vec<(String, String)>,
    filter_isp: String,
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
    isp: Option<String>,
    q: Option<String>,
    before: Option<i64>,
}

/// Each value of `group` with its name in `lang`.
pub(super) fn choices(
    lang: Lang,
    group: &str,
    values: impl IntoIterator<Item = &'static str>,
) -> Vec<(&'static str, String)> {
    values
        .into_iter()
        .map(|v| (v, lang.label(group, v)))
        .collect()
}

async fn list(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Query(query): Query<ListQuery>,
) -> Response {
    let lang = chosen.lang;
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
        isp: given(&query.isp).and_then(|id| Uuid::parse_str(id).ok()),
        search,
        mobile: mobile.as_ref().map(Mobile::as_str),
        before: query.before,
        limit: PAGE,
    };
    let listed = async {
        let listed = filings::list_all(&mut *state.core.pool.acquire().await?, &filter).await?;
        let due: Vec<_> = listed
            .iter()
            .map(|f| (f.id, f.state == "awaiting_verification", f.deadline))
            .collect();
        let returned_some = expire::any_due(&state.core, &due).await?;
        let mut conn = state.core.pool.acquire().await?;
        let listed = if returned_some {
            filings::list_all(&mut conn, &filter).await?
        } else {
            listed
        };
        let isps = isps::names(&mut conn).await?;
        Ok::<_, sqlx::Error>((listed, isps))
    }
    .await;
    let (listed, isps) = match listed {
        Ok(listed) => listed,
        Err(e) => return failure(e),
    };
    let filter_isp = filter.isp.map(|id| id.to_string());
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
                "/ops/filings?before={seq}{}{}{}{}{}",
                keep("state", filter.state),
                keep("province", filter.province),
                keep("kind", filter.kind),
                keep("isp", filter_isp.as_deref()),
                keep("q", filter.search)
            )
        });
    let page = ListPage {
        frame: operator.frame(&chosen, &lang.texts().ops_filings_title, "/ops/filings"),
        states: choices(lang, "filing_state", STATES),
        kinds: choices(
            lang,
            "filing_kind",
            FilingKind::ALL.iter().map(|k| k.as_str()),
        ),
        provinces: crate::domain::province::PROVINCES
            .iter()
            .map(|p| (p.code, lang.province(p.code)))
            .collect(),
        isps: isps
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        filter_isp: filter_isp.unwrap_or_default(),
        filter_state: filter.state.unwrap_or("").to_string(),
        filter_province: filter.province.unwrap_or("").to_string(),
        filter_kind: filter.kind.unwrap_or("").to_string(),
        q: search.unwrap_or("").to_string(),
        filings: listed
            .into_iter()
            .map(|f| Row {
                id: f.id,
                submitted: china_display(f.submitted_at),
                province: lang.province(&f.province),
                kind: lang.label("filing_kind", &f.kind),
                isp: f.isp_name,
                reference: f.isp_reference,
                state_name: lang.label("filing_state", &f.state),
                state: f.state,
            })
            .collect(),
        next_page,
    };
    render(&chosen, StatusCode::OK, page)
}

struct FilingFacts {
    id: Uuid,
    reference: String,
    state: String,
    state_name: String,
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
    state_name: String,
    failures: i32,
}

struct EventLine {
    at: String,
    kind: String,
    name: String,
    detail: String,
}

/// What a review action did, shown above the filing.
struct Notice {
    status: StatusCode,
    tone: &'static str,
    outcome: &'static str,
    text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/filing.html")]
struct FilingPage {
    frame: Frame,
    f: FilingFacts,
    verifications: Vec<VerificationLine>,
    revealed: bool,
    events: Vec<EventLine>,
    notice: Option<Notice>,
    /// The reason for rejecting was refused; the note stands beside its field.
    reason_error: bool,
}

#[derive(Deserialize, Default)]
struct ShowQuery {
    reveal: Option<String>,
    /// Set by the redirect after a review: `approved` or `rejected`.
    done: Option<String>,
}

/// What the filing page reports above its facts.
enum Report {
    Nothing,
    /// The review just made (the page is reached by the redirect after it,
    /// so reloading it sends nothing again): `approved` or `rejected`.
    Reviewed(String),
    /// A review action that was refused.
    Refused(Notice),
}

/// The filing page, with what was just done to it.
async fn filing_page(
    state: &AppState,
    chosen: &Chosen,
    operator: &Operator,
    id: Uuid,
    revealed: bool,
    report: Report,
) -> Response {
    let lang = chosen.lang;
    let t = lang.texts();
    let loaded = async {
        expire::if_due(&state.core, id).await?;
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
        Ok(None) => return operator.not_found(chosen, &t.ops_no_such_filing),
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
        state_name: lang.label("filing_state", &filing.state),
        state: filing.state.clone(),
        reason: filing
            .return_reason
            .as_deref()
            .map(|r| lang.label("return_reason", r))
            .or(filing.reject_reason.clone()),
        icp_number: filing.icp_number.clone(),
        province: lang.province(&filing.province),
        kind: lang.label("filing_kind", &filing.kind),
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
                roles: v
                    .roles
                    .iter()
                    .map(|r| lang.label("role", r))
                    .collect::<Vec<_>>()
                    .join(", "),
                state_name: lang.label("verification_state", &v.state),
                state: v.state,
                failures: v.certificate_failures,
            }
        })
        .collect();
    let events = events
        .into_iter()
        .map(|e| EventLine {
            at: china_display(e.at),
            name: lang.label("event", &e.kind),
            kind: e.kind,
            detail: event_detail(&e.detail),
        })
        .collect();
    let notice = match report {
        Report::Nothing => None,
        Report::Refused(notice) => Some(notice),
        // Said only while it is still true.
        Report::Reviewed(done) => match (done.as_str(), &facts.icp_number) {
            ("approved", Some(number)) => Some(Notice {
                status: StatusCode::OK,
                tone: "ok",
                outcome: "approved",
                text: fill(&t.ops_approved_as, &[("number", number)]),
            }),
            ("rejected", None) if facts.state == "rejected" => Some(Notice {
                status: StatusCode::OK,
                tone: "ok",
                outcome: "rejected",
                text: t.ops_rejected.to_string(),
            }),
            _ => None,
        },
    };
    let status = notice.as_ref().map_or(StatusCode::OK, |n| n.status);
    let page = FilingPage {
        frame: operator.frame(chosen, &t.ops_filing_title, &format!("/ops/filings/{id}")),
        f: facts,
        verifications,
        revealed,
        events,
        reason_error: notice
            .as_ref()
            .is_some_and(|n| n.outcome == "invalid_input"),
        notice,
    };
    render(chosen, status, page)
}

/// An event's details as `name: value` pairs, times in China time.
fn event_detail(detail: &serde_json::Value) -> String {
    let Some(fields) = detail.as_object() else {
        return detail.to_string();
    };
    fields
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                serde_json::Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                    .map(|at| china_display(at.with_timezone(&chrono::Utc)))
                    .unwrap_or_else(|_| text.clone()),
                other => other.to_string(),
            };
            format!("{name}: {shown}")
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn filing_id(raw: &str) -> Option<Uuid> {
    Uuid::parse_str(raw).ok()
}

async fn show(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    let Some(id) = filing_id(&id) else {
        return operator.not_found(&chosen, &chosen.lang.texts().ops_no_such_filing);
    };
    let revealed = query.reveal.as_deref() == Some("1");
    let report = query.done.map_or(Report::Nothing, Report::Reviewed);
    filing_page(&state, &chosen, &operator, id, revealed, report).await
}

#[derive(Deserialize)]
struct ReviewForm {
    csrf_token: Option<String>,
    reason: Option<String>,
}

async fn approve(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    review_action(&state, &chosen, &operator, &id, form, true).await
}

async fn reject(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    review_action(&state, &chosen, &operator, &id, form, false).await
}

async fn review_action(
    state: &AppState,
    chosen: &Chosen,
    operator: &Operator,
    id: &str,
    form: ReviewForm,
    approving: bool,
) -> Response {
    let t = chosen.lang.texts();
    let Some(id) = filing_id(id) else {
        return operator.not_found(chosen, &t.ops_no_such_filing);
    };
    let page = format!("/ops/filings/{id}");
    if let Some(refusal) = operator.csrf_refusal(chosen, form.csrf_token.as_deref(), &page) {
        return refusal;
    }
    let who = operator.session.username.as_str();
    let done = match approving {
        true => review::approve(&state.core, id, who)
            .await
            .map(|_| "approved"),
        false => review::reject(&state.core, id, form.reason.as_deref().unwrap_or(""), who)
            .await
            .map(|()| "rejected"),
    };
    let refused = |status, outcome, text: &str| {
        Report::Refused(Notice {
            status,
            tone: "error",
            outcome,
            text: text.to_string(),
        })
    };
    let report = match done {
        Ok(done) => return redirect(&format!("/ops/filings/{id}?done={done}")),
        Err(ReviewError::NotAwaitingReview) => refused(
            StatusCode::CONFLICT,
            "not_awaiting_review",
            &t.ops_not_awaiting_review,
        ),
        Err(ReviewError::Invalid(_)) => refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            &t.invalid_input,
        ),
        Err(ReviewError::Database(e)) => return failure(e),
    };
    filing_page(state, chosen, operator, id, false, report).await
}

#[cfg(test)]
mod tests {
    //! The filing page as an operator sees it, kept as a snapshot under
    //! `snapshots/`.

    use super::*;
    use crate::store::operators::Session;
    use crate::web::i18n::Chosen;

    fn page(lang: Lang, notice: Option<Notice>) -> FilingPage {
        let chosen = Chosen::fixed(lang);
        let session = Session {
            operator_id: Uuid::nil(),
            username: "zhou.min".into(),
            csrf_token: "token".into(),
        };
        let id = Uuid::from_u128(0x6f1c_1a52_0000_4000_8000_0000_0000_0001);
        FilingPage {
            frame: Frame::new(
                &chosen,
                &lang.texts().ops_filing_title,
                &format!("/ops/filings/{id}"),
                Some(&session),
            ),
            f: FilingFacts {
                id,
                reference: "ACME-2026-0001".into(),
                state_name: lang.label("filing_state", "awaiting_review"),
                state: "awaiting_review".into(),
                reason: None,
                icp_number: None,
                province: lang.province("gs"),
                kind: lang.label("filing_kind", "new_filing"),
                isp: "Acme ISP".into(),
                submitted: "2026-12-01 10:00 (UTC+8)".into(),
                deadline: "2026-12-03 10:00 (UTC+8)".into(),
                subject: "Lanzhou Orchard Co. — Zhang Wei 138****8000".into(),
                websites: vec!["Orchard Shop — Li Na 133****3000 (orchard.example.cn)".into()],
            },
            verifications: vec![VerificationLine {
                mobile: "138****8000".into(),
                person: "Zhang Wei".into(),
                roles: lang.label("role", "subject"),
                state_name: lang.label("verification_state", "verified"),
                state: "verified".into(),
                failures: 1,
            }],
            revealed: false,
            events: vec![
                EventLine {
                    at: "2026-12-01 10:00 (UTC+8)".into(),
                    name: lang.label("event", "submitted"),
                    kind: "submitted".into(),
                    detail: event_detail(&serde_json::json!({ "kind": "new_filing" })),
                },
                EventLine {
                    at: "2026-12-01 10:00 (UTC+8)".into(),
                    name: lang.label("event", "sms_scheduled"),
                    kind: "sms_scheduled".into(),
                    detail: event_detail(&serde_json::json!({
                        "due_at": "2026-12-01T02:05:00Z",
                        "mobile": "138****8000",
                        "reason": "first",
                    })),
                },
            ],
            reason_error: notice
                .as_ref()
                .is_some_and(|n| n.outcome == "invalid_input"),
            notice,
        }
    }

    #[test]
    fn event_details_read_as_pairs_with_china_times() {
        let shown = event_detail(&serde_json::json!({
            "due_at": "2026-12-01T02:05:00Z",
            "mobile": "138****8000",
            "tries": 2,
        }));
        assert_eq!(
            shown,
            "due_at: 2026-12-01 10:05 (UTC+8) · mobile: 138****8000 · tries: 2"
        );
    }

    #[test]
    fn filing_awaiting_review_in_chinese() {
        insta::assert_snapshot!(page(Lang::Zh, None).render().expect("renders"));
    }

    #[test]
    fn a_refused_rejection_in_english_marks_the_reason_field() {
        let notice = Notice {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            tone: "error",
            outcome: "invalid_input",
            text: Lang::En.texts().invalid_input.to_string(),
        };
        insta::assert_snapshot!(page(Lang::En, Some(notice)).render().expect("renders"));
    }
}
