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
mod sms;

use super::AppState;
use crate::flows::operators;
use crate::store::operators::Session;

const SESSION_COOKIE: &str = "beian_ops";
const LOGIN_COOKIE: &str = "beian_ops_login";
pub(super) const PAGE: i64 = 50;
pub(super) const STATES: [&str; 5] = [
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

pub(super) fn failure(cause: impl std::fmt::Display) -> Response {
    let id = Uuid::new_v4();
    tracing::error!(error = %cause, error_id = %id, "operator request failed");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("The emulator failed to answer; error id {id}."),
    )
        .into_response()
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
    /// Compares in constant time.
    pub(super) fn csrf_ok(&self, sent: &str) -> bool {
        let expected = self.session.csrf_token.as_bytes();
        sent.len() == expected.len()
            && sent
                .bytes()
                .zip(expected)
                .fold(0, |diff, (a, b)| diff | (a ^ b))
                == 0
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "ops/login.html")]
struct LoginPage {
    title: &'static str,
    asset_version: &'static str,
    operator: Option<String>,
    csrf_token: String,
    username: String,
    failed: bool,
}

fn login_page(headers: &HeaderMap, username: String, failed: bool) -> Response {
    let token = operators::random_hex();
    let page = LoginPage {
        title: "Sign in",
        asset_version: env!("CARGO_PKG_VERSION"),
        operator: None,
        csrf_token: token.clone(),
        username,
        failed,
    };
    let status = if failed {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    let mut response = (status, [(CACHE_CONTROL, "no-store")], page).into_response();
    set_cookie(
        &mut response,
        format!("{LOGIN_COOKIE}={token}{}", cookie_attributes(headers)),
    );
    response
}

async fn login_form(headers: HeaderMap) -> Response {
    login_page(&headers, String::new(), false)
}

#[derive(Deserialize)]
struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE);
    if expected.is_none() || expected != form.csrf_token {
        return login_page(&headers, String::new(), false);
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
        Ok(None) => login_page(&headers, username, true),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf_token: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    operator: Operator,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !operator.csrf_ok(form.csrf_token.as_deref().unwrap_or("")) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired; go back and try again.",
        )
            .into_response();
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
