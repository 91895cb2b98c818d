//! The operator pages: sign-in, the filings with their timelines, and review.
//!
//! A session is a random token in an `HttpOnly`, `SameSite=Strict` cookie
//! (`Secure` behind HTTPS), kept hashed in PostgreSQL; every form carries the
//! session's CSRF token back. The sign-in form, before any session, checks a
//! token against a cookie of its own.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

mod filings;
mod isps;
pub(super) mod sms;

use super::AppState;
use super::i18n::{Chosen, Lang, Texts};
use crate::flows::operators;
use crate::store::operators::Session;

const SESSION_COOKIE: &str = "beian_ops";
const LOGIN_COOKIE: &str = "beian_ops_login";
pub(super) const PAGE: i64 = 50;
pub(in crate::web) const STATES: [&str; 5] = [
    "awaiting_verification",
    "awaiting_review",
    "approved",
    "rejected",
    "returned",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ops", get(|| async { redirect("/ops/filings") }))
        .route("/ops/", get(|| async { redirect("/ops/filings") }))
        .route("/ops/login", get(login_form).post(login))
        .route("/ops/logout", post(logout))
        .merge(filings::routes())
        .merge(sms::routes())
        .merge(isps::routes())
}

pub(super) fn redirect(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(LOCATION, to.to_string())]).into_response()
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(name)?
                .strip_prefix('=')
                .map(str::to_string)
        })
}

/// `Secure` when the request came over HTTPS (through a proxy that says so).
pub(super) fn cookie_attributes(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if https {
        "; Path=/ops; HttpOnly; SameSite=Strict; Secure"
    } else {
        "; Path=/ops; HttpOnly; SameSite=Strict"
    }
}

pub(super) fn set_cookie(response: &mut Response, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

/// The answer to a failure of ours, in both languages, since it may come
/// before the page's language is known: the cause goes to the log, an id to
/// the operator.
pub(super) fn failure(cause: impl std::fmt::Display) -> Response {
    let id = Uuid::new_v4();
    tracing::error!(error = %cause, error_id = %id, "operator request failed");
    let zh = Lang::Zh.texts();
    let en = Lang::En.texts();
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!(
            "{} {}: {id}\n{} {}: {id}\n",
            zh.server_error, zh.error_id, en.server_error, en.error_id
        ),
    )
        .into_response()
}

/// What the layout of every operator page shows.
pub(super) struct Frame {
    pub(super) lang_code: &'static str,
    pub(super) t: &'static Texts,
    pub(super) title: String,
    pub(super) operator: Option<String>,
    pub(super) csrf_token: String,
    pub(super) switch_href: String,
    pub(super) switch_lang: &'static str,
    pub(super) asset_version: &'static str,
}

impl Frame {
    /// The frame of the page at `path` (where the language switch leads),
    /// titled `title`, for `session`'s operator if one is signed in.
    pub(super) fn new(
        chosen: &Chosen,
        title: &str,
        path: &str,
        session: Option<&Session>,
    ) -> Frame {
        let lang = chosen.lang;
        Frame {
            lang_code: lang.code(),
            t: lang.texts(),
            title: title.to_string(),
            operator: session.map(|s| s.username.clone()),
            csrf_token: session.map(|s| s.csrf_token.clone()).unwrap_or_default(),
            switch_href: chosen.switch_href(path),
            switch_lang: lang.other().code(),
            asset_version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// An operator page: never cached, and remembering the language when the
/// request chose one.
pub(super) fn render(chosen: &Chosen, status: StatusCode, page: impl IntoResponse) -> Response {
    chosen.remember((status, [(CACHE_CONTROL, "no-store")], page))
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/message.html")]
struct MessagePage {
    frame: Frame,
    message: String,
    outcome: &'static str,
}

/// A page that says why a request was refused (`outcome` names the reason
/// for tests, as `data-outcome`).
pub(super) fn refusal(
    frame: Frame,
    status: StatusCode,
    message: &str,
    outcome: &'static str,
) -> Response {
    let page = MessagePage {
        frame,
        message: message.to_string(),
        outcome,
    };
    (status, [(CACHE_CONTROL, "no-store")], page).into_response()
}

/// A signed-in operator; a request without one is sent to the sign-in page.
pub struct Operator {
    pub(super) session: Session,
    token: String,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(redirect("/ops/login"));
        };
        match operators::session(&state.core, &token).await {
            Ok(Some(session)) => Ok(Operator { session, token }),
            Ok(None) => Err(redirect("/ops/login")),
            Err(e) => Err(failure(e)),
        }
    }
}

impl Operator {
    /// The frame of one of this operator's pages.
    pub(super) fn frame(&self, chosen: &Chosen, title: &str, path: &str) -> Frame {
        Frame::new(chosen, title, path, Some(&self.session))
    }

    /// Checks a form's CSRF token, in constant time: the refusal page, in
    /// the operator's language, when it does not match.
    pub(super) fn csrf_refusal(
        &self,
        chosen: &Chosen,
        sent: Option<&str>,
        path: &str,
    ) -> Option<Response> {
        let sent = sent.unwrap_or("");
        let expected = self.session.csrf_token.as_bytes();
        let matches = sent.len() == expected.len()
            && sent
                .bytes()
                .zip(expected)
                .fold(0, |diff, (a, b)| diff | (a ^ b))
                == 0;
        if matches {
            return None;
        }
        let t = chosen.lang.texts();
        Some(refusal(
            self.frame(chosen, &t.form_expired, path),
            StatusCode::FORBIDDEN,
            &t.form_expired,
            "form_expired",
        ))
    }

    /// The page for something that is not there.
    pub(super) fn not_found(&self, chosen: &Chosen, message: &str) -> Response {
        refusal(
            self.frame(chosen, message, "/ops/filings"),
            StatusCode::NOT_FOUND,
            message,
            "not_found",
        )
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/login.html")]
struct LoginPage {
    frame: Frame,
    /// The sign-in form's own CSRF token (there is no session yet).
    login_token: String,
    username: String,
    failed: bool,
}

fn login_page(chosen: &Chosen, headers: &HeaderMap, username: String, failed: bool) -> Response {
    let token = operators::random_hex();
    let page = LoginPage {
        frame: Frame::new(chosen, &chosen.lang.texts().ops_sign_in, "/ops/login", None),
        login_token: token.clone(),
        username,
        failed,
    };
    let status = if failed {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = render(chosen, status, page);
    set_cookie(
        &mut response,
        format!("{LOGIN_COOKIE}={token}{}", cookie_attributes(headers)),
    );
    response
}

async fn login_form(chosen: Chosen, headers: HeaderMap) -> Response {
    login_page(&chosen, &headers, String::new(), false)
}

#[derive(Deserialize)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    chosen: Chosen,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    if expected.is_none() || expected != form.csrf_token {
        return login_page(&chosen, &headers, String::new(), false);
    }
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    match operators::sign_in(&state.core, &username, &password).await {
        Ok(Some(signed_in)) => {
            tracing::info!("an operator signed in");
            let mut response = redirect("/ops/filings");
            let attributes = cookie_attributes(&headers);
            set_cookie(
                &mut response,
                format!("{SESSION_COOKIE}={}{attributes}", signed_in.token),
            );
            set_cookie(
                &mut response,
                format!("{LOGIN_COOKIE}=; Max-Age=0{attributes}"),
            );
            response
        }
        Ok(None) => login_page(&chosen, &headers, username, true),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    chosen: Chosen,
    operator: Operator,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refusal) =
        operator.csrf_refusal(&chosen, form.csrf_token.as_deref(), "/ops/filings")
    {
        return refusal;
    }
    if let Err(e) = operators::sign_out(&state.core, &operator.token).await {
        return failure(e);
    }
    let mut response = redirect("/ops/login");
    set_cookie(
        &mut response,
        format!(
            "{SESSION_COOKIE}=; Max-Age=0{}",
            cookie_attributes(&headers)
        ),
    );
    response
}

pub(super) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Percent-encodes a query value.
pub(super) fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
