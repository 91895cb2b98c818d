//! The province portal pages. A province is reached by its host
//! (`gscainfo.localhost:8080`) or by the `/p/{code}` prefix; the bare host
//! lists the portals.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawPathParams, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use uuid::Uuid;

use super::i18n::{Chosen, Lang, Texts, fill};
use super::{AppState, csrf};
use crate::domain::province::{self, PROVINCES, Province};
use crate::flows::resend::{ResendInput, ResendOutcome, resend};
use crate::flows::verify::{VerifyInput, VerifyOutcome, verify};
use crate::flows::{FieldError, captcha};
use crate::store::captchas;

const STYLESHEET: &str = include_str!("../../static/portal.css");
/// Changes whenever the stylesheet does, so browsers may cache it for long.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/verify", get(verify_form).post(verify_submit))
        .route("/resend", get(resend_form).post(resend_submit))
        .route("/p/{province}", get(index))
        .route("/p/{province}/", get(index))
        .route("/p/{province}/verify", get(verify_form).post(verify_submit))
        .route("/p/{province}/resend", get(resend_form).post(resend_submit))
        .route("/captchas/{id}/image", get(captcha_image))
        .route("/static/portal.css", get(stylesheet))
}

/// The portal a request is for, if any.
#[derive(Clone, Copy)]
struct Portal {
    province: &'static Province,
    by_path: bool,
    /// The province's verification window, and the daily resend time, for the footer.
    window_hours: i64,
    resend_time: chrono::NaiveTime,
}

impl Portal {
    fn new(state: &AppState, province: &'static Province, by_path: bool) -> Portal {
        let settings = &state.core.settings;
        Portal {
            province,
            by_path,
            window_hours: settings.window_for(province.code).num_hours(),
            resend_time: settings.resend_time,
        }
    }

    fn base(&self) -> String {
        if self.by_path {
            format!("/p/{}", self.province.code)
        } else {
            String::new()
        }
    }
}

/// Where the request says it is: `None` on the bare host.
struct Addressed(Option<&'static Province>, bool);

impl FromRequestParts<AppState> for Addressed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state).await.ok();
        let by_path = params.as_ref().and_then(|params| {
            params
                .iter()
                .find(|(name, _)| *name == "province")
                .map(|(_, v)| v.to_string())
        });
        if let Some(code) = by_path {
            // An unknown code under /p/ must not fall back to the host.
            return Ok(Addressed(
                province::find(&code).filter(|p| p.code == code),
                true,
            ));
        }
        let host = parts
            .headers
            .get(HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        Ok(Addressed(province::from_host(host), false))
    }
}

/// What every page's layout needs.
struct Chrome {
    lang_code: &'static str,
    t: &'static Texts,
    title: String,
    heading: String,
    base: String,
    home_href: String,
    switch_href: String,
    switch_lang: &'static str,
    asset_version: &'static str,
    /// The rules of the portal's province; empty off the portals.
    footer: String,
}

fn chrome(lang: Lang, portal: Option<Portal>, page_title: Option<&str>) -> Chrome {
    let t = lang.texts();
    let heading = match portal {
        Some(p) => province_heading(lang, p.province),
        None => t.portal_list_title.to_string(),
    };
    let title = match page_title {
        Some(page) => format!("{page} - {heading}"),
        None => heading.clone(),
    };
    let base = portal.map(|p| p.base()).unwrap_or_default();
    Chrome {
        lang_code: lang.code(),
        t,
        title,
        heading,
        home_href: if base.is_empty() {
            "/".into()
        } else {
            format!("{base}/")
        },
        base,
        switch_href: format!("?lang={}", lang.other().short()),
        switch_lang: lang.other().code(),
        asset_version: ASSET_VERSION,
        footer: portal.map_or_else(String::new, |p| {
            fill(
                &t.deadline_note,
                &[
                    ("hours", &p.window_hours.to_string()),
                    ("time", &p.resend_time.format("%H:%M").to_string()),
                ],
            )
        }),
    }
}

fn province_heading(lang: Lang, province: &Province) -> String {
    match lang {
        Lang::Zh => format!("{}{}", province.name_zh, lang.texts().portal_suffix),
        Lang::En => format!("{} {}", province.name_en, lang.texts().portal_suffix),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/list.html")]
struct ListPage {
    chrome: Chrome,
    portals: Vec<PortalLink>,
}

struct PortalLink {
    name: String,
    href: String,
    host: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/home.html")]
struct HomePage {
    chrome: Chrome,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    message: String,
    outcome_name: Option<&'static str>,
    error_id: Option<String>,
}

fn message(
    lang: Lang,
    portal: Option<Portal>,
    status: StatusCode,
    text: &str,
    outcome: Option<&'static str>,
) -> Response {
    let page = MessagePage {
        chrome: chrome(lang, portal, None),
        message: text.into(),
        outcome_name: outcome,
        error_id: None,
    };
    (status, page).into_response()
}

/// A page for a failure of ours: the cause goes to the log, an id to the person.
fn server_error(lang: Lang, cause: impl std::fmt::Display) -> Response {
    let id = Uuid::new_v4().to_string();
    tracing::error!(error = %cause, error_id = %id, "portal request failed");
    let t = lang.texts();
    let page = MessagePage {
        chrome: chrome(lang, None, None),
        message: t.server_error.to_string(),
        outcome_name: None,
        error_id: Some(id),
    };
    (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
}

/// The page for a request that names no pilot portal.
fn no_portal(addressed: &Addressed, lang: Lang) -> Response {
    let t = lang.texts();
    let text = if addressed.0.is_some() {
        &t.not_a_pilot
    } else {
        &t.page_not_found
    };
    message(lang, None, StatusCode::NOT_FOUND, text, None)
}

impl FromRequestParts<AppState> for Portal {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(addressed) = Addressed::from_request_parts(parts, state).await;
        match addressed {
            Addressed(Some(province), by_path) if state.core.settings.is_pilot(province.code) => {
                Ok(Portal::new(state, province, by_path))
            }
            _ => {
                let Ok(chosen) = Chosen::from_request_parts(parts, state).await;
                Err(no_portal(&addressed, chosen.lang))
            }
        }
    }
}

async fn index(State(state): State<AppState>, chosen: Chosen, addressed: Addressed) -> Response {
    let lang = chosen.lang;
    let response = match addressed {
        Addressed(None, false) => {
            let portals = PROVINCES
                .iter()
                .filter(|p| state.core.settings.is_pilot(p.code))
                .map(|p| PortalLink {
                    name: province_heading(lang, p),
                    href: format!("/p/{}/", p.code),
                    host: p.host(),
                })
                .collect();
            ListPage {
                chrome: chrome(lang, None, None),
                portals,
            }
            .into_response()
        }
        Addressed(Some(province), by_path) if state.core.settings.is_pilot(province.code) => {
            let portal = Portal::new(&state, province, by_path);
            HomePage {
                chrome: chrome(lang, Some(portal), None),
            }
            .into_response()
        }
        addressed => no_portal(&addressed, lang),
    };
    chosen.remember(response)
}

/// A form's state as the page shows it: what was typed (never the code) and
/// the note beside each field at fault.
struct FormView {
    action: String,
    captcha_id: String,
    csrf_token: String,
    mobile: String,
    certificate_last6: String,
    error_mobile: Option<&'static str>,
    error_certificate: Option<&'static str>,
    error_code: Option<&'static str>,
}

impl FormView {
    async fn new(state: &AppState, action: String) -> Result<FormView, sqlx::Error> {
        let id = captcha::create(&state.core).await?.to_string();
        Ok(FormView {
            action,
            csrf_token: csrf::token(&state.csrf_key, &id),
            captcha_id: id,
            mobile: String::new(),
            certificate_last6: String::new(),
            error_mobile: None,
            error_certificate: None,
            error_code: None,
        })
    }

    /// A new form for the page the person just sent, keeping what they typed.
    async fn again(
        state: &AppState,
        action: String,
        mobile: Option<String>,
        certificate_last6: Option<String>,
    ) -> Result<FormView, sqlx::Error> {
        let mut form = FormView::new(state, action).await?;
        form.mobile = mobile.unwrap_or_default();
        form.certificate_last6 = certificate_last6.unwrap_or_default();
        Ok(form)
    }

    fn mark(&mut self, t: &'static Texts, errors: &[FieldError]) {
        for error in errors {
            match error.field.as_str() {
                "mobile" => self.error_mobile = Some(&t.bad_mobile),
                "certificate_last6" => self.error_certificate = Some(&t.bad_certificate),
                "code" => self.error_code = Some(&t.bad_code),
                _ => {}
            }
        }
    }
}

struct OutcomeView {
    name: &'static str,
    tone: &'static str,
    message: &'static str,
    details: Vec<String>,
    extra: Option<&'static str>,
}

impl OutcomeView {
    fn new(name: &'static str, tone: &'static str, message: &'static str) -> OutcomeView {
        OutcomeView {
            name,
            tone,
            message,
            details: Vec::new(),
            extra: None,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/verify.html")]
struct VerifyPage {
    chrome: Chrome,
    form: FormView,
    outcome: Option<OutcomeView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "portal/resend.html")]
struct ResendPage {
    chrome: Chrome,
    form: FormView,
    outcome: Option<OutcomeView>,
}

async fn verify_form(State(state): State<AppState>, chosen: Chosen, portal: Portal) -> Response {
    let lang = chosen.lang;
    let form = match FormView::new(&state, format!("{}/verify", portal.base())).await {
        Ok(form) => form,
        Err(e) => return server_error(lang, e),
    };
    let page = VerifyPage {
        chrome: chrome(lang, Some(portal), Some(&lang.texts().verify_title)),
        form,
        outcome: None,
    };
    chosen.remember(no_store(page))
}

async fn resend_form(State(state): State<AppState>, chosen: Chosen, portal: Portal) -> Response {
    let lang = chosen.lang;
    let form = match FormView::new(&state, format!("{}/resend", portal.base())).await {
        Ok(form) => form,
        Err(e) => return server_error(lang, e),
    };
    let page = ResendPage {
        chrome: chrome(lang, Some(portal), Some(&lang.texts().resend_title)),
        form,
        outcome: None,
    };
    chosen.remember(no_store(page))
}

/// The value of a form field sent exactly once; a missing or doubled field is `None`.
fn single(fields: &[(String, String)], name: &str) -> Option<String> {
    let mut values = fields.iter().filter(|(key, _)| key == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value.clone()),
        _ => None,
    }
}

/// Checks the form's CSRF token before anything else is looked at: the
/// refusal page when it does not match.
fn csrf_refusal(
    state: &AppState,
    lang: Lang,
    portal: Portal,
    fields: &[(String, String)],
) -> Option<Response> {
    let valid = match (single(fields, "captcha_id"), single(fields, "csrf_token")) {
        (Some(id), Some(token)) => csrf::is_valid(&state.csrf_key, &id, &token),
        _ => false,
    };
    if valid {
        return None;
    }
    Some(message(
        lang,
        Some(portal),
        StatusCode::FORBIDDEN,
        &lang.texts().form_expired,
        Some("form_expired"),
    ))
}

async fn verify_submit(
    State(state): State<AppState>,
    chosen: Chosen,
    portal: Portal,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = chosen.lang;
    let t = lang.texts();
    if let Some(refusal) = csrf_refusal(&state, lang, portal, &fields) {
        return refusal;
    }
    let input = VerifyInput {
        certificate_last6: single(&fields, "certificate_last6"),
        mobile: single(&fields, "mobile"),
        code: single(&fields, "code"),
        captcha_id: single(&fields, "captcha_id"),
        captcha_answer: single(&fields, "captcha_answer"),
    };
    let outcome = match verify(&state.core, portal.province, &input).await {
        Ok(outcome) => outcome,
        Err(e) => return server_error(lang, e),
    };
    let action = format!("{}/verify", portal.base());
    let mut form =
        match FormView::again(&state, action, input.mobile, input.certificate_last6).await {
            Ok(form) => form,
            Err(e) => return server_error(lang, e),
        };
    let (status, view) = verify_view(t, &outcome, &mut form);
    let page = VerifyPage {
        chrome: chrome(lang, Some(portal), Some(&t.verify_title)),
        form,
        outcome: Some(view),
    };
    no_store((status, page))
}

fn verify_view(
    t: &'static Texts,
    outcome: &VerifyOutcome,
    form: &mut FormView,
) -> (StatusCode, OutcomeView) {
    let view = |message: &'static str, tone| OutcomeView::new(outcome.name(), tone, message);
    match outcome {
        VerifyOutcome::Verified {
            pending_mobiles, ..
        } => {
            // The next person of the filing starts from an empty form.
            form.mobile.clear();
            form.certificate_last6.clear();
            let mut ok = view(&t.verified, "ok");
            ok.details = pending_mobiles.clone();
            ok.extra = pending_mobiles.is_empty().then_some(&*t.all_verified);
            (StatusCode::OK, ok)
        }
        VerifyOutcome::NotFound => (StatusCode::OK, view(&t.not_found, "error")),
        VerifyOutcome::FailedReturned { reason } => {
            let text = if reason == "certificate_attempts_exceeded" {
                &t.returned_attempts
            } else {
                &t.returned_expired
            };
            (StatusCode::OK, view(text, "error"))
        }
        VerifyOutcome::CaptchaInvalid => (StatusCode::OK, view(&t.captcha_invalid, "error")),
        VerifyOutcome::InvalidInput { errors } => {
            form.mark(t, errors);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                view(&t.invalid_input, "error"),
            )
        }
        VerifyOutcome::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            view(&t.rate_limited, "error"),
        ),
    }
}

async fn resend_submit(
    State(state): State<AppState>,
    chosen: Chosen,
    portal: Portal,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let lang = chosen.lang;
    let t = lang.texts();
    if let Some(refusal) = csrf_refusal(&state, lang, portal, &fields) {
        return refusal;
    }
    let input = ResendInput {
        mobile: single(&fields, "mobile"),
        certificate_last6: single(&fields, "certificate_last6"),
        captcha_id: single(&fields, "captcha_id"),
        captcha_answer: single(&fields, "captcha_answer"),
    };
    let outcome = match resend(&state.core, portal.province, &input).await {
        Ok(outcome) => outcome,
        Err(e) => return server_error(lang, e),
    };
    let action = format!("{}/resend", portal.base());
    let mut form =
        match FormView::again(&state, action, input.mobile, input.certificate_last6).await {
            Ok(form) => form,
            Err(e) => return server_error(lang, e),
        };
    let view = |message: &'static str, tone| OutcomeView::new(outcome.name(), tone, message);
    let (status, view) = match &outcome {
        ResendOutcome::Sent { .. } => (StatusCode::OK, view(&t.sent, "ok")),
        ResendOutcome::NotFound => (StatusCode::OK, view(&t.resend_not_found, "error")),
        ResendOutcome::CaptchaInvalid => (StatusCode::OK, view(&t.captcha_invalid, "error")),
        ResendOutcome::InvalidInput { errors } => {
            form.mark(t, errors);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                view(&t.invalid_input, "error"),
            )
        }
        ResendOutcome::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            view(&t.rate_limited, "error"),
        ),
    };
    let page = ResendPage {
        chrome: chrome(lang, Some(portal), Some(&t.resend_title)),
        form,
        outcome: Some(view),
    };
    no_store((status, page))
}

/// Pages that carry a captcha or an outcome must not be cached.
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn captcha_image(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let answer = async {
        let now = state.core.clock.now().await?;
        captchas::open_answer(&state.core.pool, id, now).await
    }
    .await;
    let answer = match answer {
        Ok(Some(answer)) => answer,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return super::ApiError::internal(e).into_response(),
    };
    let Ok(_permit) = state.captcha_permits.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    match tokio::task::spawn_blocking(move || crate::captcha::draw(&answer)).await {
        Ok(Some(png)) => (
            [(CONTENT_TYPE, "image/png"), (CACHE_CONTROL, "no-store")],
            Body::from(png),
        )
            .into_response(),
        Ok(None) | Err(_) => {
            super::ApiError::internal("the captcha picture could not be drawn").into_response()
        }
    }
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub async fn not_found(chosen: Chosen) -> Response {
    message(
        chosen.lang,
        None,
        StatusCode::NOT_FOUND,
        &chosen.lang.texts().page_not_found,
        None,
    )
}

/// The answer to a portal request over the per-address limit.
pub fn rate_limited(request: &Request) -> Response {
    let lang = request
        .headers()
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.trim_start().to_ascii_lowercase().starts_with("en"))
        .map_or(Lang::Zh, |_| Lang::En);
    message(
        lang,
        None,
        StatusCode::TOO_MANY_REQUESTS,
        &lang.texts().rate_limited,
        Some("rate_limited"),
    )
}

#[cfg(test)]
mod tests {
    //! The portal pages as a filer sees them, kept as snapshots under
    //! `snapshots/`: a change to their look shows up in review.

    use super::*;
    use crate::flows::FieldError;

    fn gansu() -> Portal {
        Portal {
            province: province::find("gs").expect("Gansu"),
            by_path: false,
            window_hours: 48,
            resend_time: chrono::NaiveTime::from_hms_opt(12, 0, 0).expect("noon"),
        }
    }

    fn form(action: &str) -> FormView {
        FormView {
            action: action.to_string(),
            captcha_id: "6f1c1a52-0000-4000-8000-000000000001".into(),
            csrf_token: "token".into(),
            mobile: String::new(),
            certificate_last6: String::new(),
            error_mobile: None,
            error_certificate: None,
            error_code: None,
        }
    }

    #[test]
    fn verify_page_with_field_errors_in_chinese() {
        let t = Lang::Zh.texts();
        let mut form = form("/verify");
        form.mobile = "1330013300".into();
        form.certificate_last6 = "12345".into();
        let (_, outcome) = verify_view(
            t,
            &VerifyOutcome::InvalidInput {
                errors: vec![
                    FieldError::new("certificate_last6", "must be six characters"),
                    FieldError::new("mobile", "must be eleven digits"),
                ],
            },
            &mut form,
        );
        let page = VerifyPage {
            chrome: chrome(Lang::Zh, Some(gansu()), Some(&t.verify_title)),
            form,
            outcome: Some(outcome),
        };
        insta::assert_snapshot!(page.render().expect("renders"));
    }

    #[test]
    fn verify_page_after_a_success_in_english() {
        let t = Lang::En.texts();
        let mut form = form("/p/gs/verify");
        let (_, outcome) = verify_view(
            t,
            &VerifyOutcome::Verified {
                filing_state: "awaiting_verification".into(),
                pending_mobiles: vec!["133****3000".into()],
            },
            &mut form,
        );
        let mut portal = gansu();
        portal.by_path = true;
        let page = VerifyPage {
            chrome: chrome(Lang::En, Some(portal), Some(&t.verify_title)),
            form,
            outcome: Some(outcome),
        };
        insta::assert_snapshot!(page.render().expect("renders"));
    }

    #[test]
    fn portal_list_in_chinese() {
        let portals = PROVINCES
            .iter()
            .filter(|p| ["gs", "xz"].contains(&p.code))
            .map(|p| PortalLink {
                name: province_heading(Lang::Zh, p),
                href: format!("/p/{}/", p.code),
                host: p.host(),
            })
            .collect();
        let page = ListPage {
            chrome: chrome(Lang::Zh, None, None),
            portals,
        };
        insta::assert_snapshot!(page.render().expect("renders"));
    }
}
