//! Test hooks, served only with `--test-hooks`: they let an integration test
//! read what a person would read off a captcha or a handset, and move time.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ErrorBody;
use super::json::JsonBody;
use super::{ApiError, AppState};
use crate::domain::input::{Mobile, text_field};
use crate::flows::{FieldError, deliver, handset};
use crate::store::captchas;
use crate::store::handsets::{self, HandsetState, InboxMessage};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/test/captchas/{id}", get(captcha_answer))
        .route("/api/test/handsets/{mobile}/messages", get(inbox))
        .route(
            "/api/test/handsets/{mobile}",
            axum::routing::put(set_handset),
        )
        .route("/api/test/clock", get(read_clock).post(move_clock))
        .route("/api/test/reset", post(reset))
        .route("/api/test/isps", post(create_isp))
        .route_layer(axum::middleware::from_fn(refuse_webhook_posts))
}

/// A webhook URL may point anywhere, the emulator itself included: its own
/// posts never reach the hooks, or any ISP could reset the emulator.
async fn refuse_webhook_posts(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if request
        .headers()
        .contains_key(crate::flows::webhooks::EVENT_HEADER)
    {
        let refused = ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "webhook posts cannot call the test hooks",
        );
        return refused.into_response();
    }
    next.run(request).await
}

#[derive(Serialize, utoipa::ToSchema)]
struct CaptchaAnswer {
    answer: String,
}

/// The answer of a captcha, spent or not.
#[utoipa::path(get, path = "/api/test/captchas/{id}", tag = "test hooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaptchaAnswer), (status = 404, body = ErrorBody)))]
async fn captcha_answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("captcha"))?;
    let answer = captchas::answer(&state.core.pool, id)
        .await?
        .ok_or_else(|| ApiError::not_found("captcha"))?;
    Ok(Json(CaptchaAnswer { answer }).into_response())
}

fn mobile(raw: &str) -> Result<Mobile, ApiError> {
    Mobile::parse(raw).map_err(|e| ApiError::invalid(vec![FieldError::new("mobile", e.message())]))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct InboxQuery {
    /// Seconds to wait, 0 to 30, when nothing newer than `after` is there yet.
    wait: Option<String>,
    /// A message id: only messages delivered after it.
    after: Option<String>,
}

/// The longest `?wait=` a reader may ask for, in seconds.
const MAX_WAIT: u64 = 30;

/// A handset's inbox; with `?wait=N`, when nothing newer than `?after=` is
/// there yet, waits up to N seconds for it to arrive (woken by the delivery,
/// on whichever instance it happens).
#[utoipa::path(get, path = "/api/test/handsets/{mobile}/messages", tag = "test hooks",
    params(("mobile" = String, Path), InboxQuery),
    responses((status = 200, body = Vec<InboxMessage>), (status = 422, body = ErrorBody)))]
async fn inbox(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(query): Query<InboxQuery>,
) -> Result<Response, ApiError> {
    let mobile = mobile(&raw)?;
    let wait = match query.wait.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(n) => n
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_WAIT)
            .ok_or_else(|| {
                ApiError::invalid(vec![FieldError::new(
                    "wait",
                    format!("must be a whole number of seconds from 0 to {MAX_WAIT}"),
                )])
            })?,
    };
    let after = match query.after.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(id) => Some(Uuid::parse_str(id).map_err(|_| {
            ApiError::invalid(vec![FieldError::new("after", "is not a message id")])
        })?),
    };
    if let Some(after) = after {
        let mut conn = state.core.pool.acquire().await?;
        if !handsets::has_message(&mut conn, mobile.as_str(), after).await? {
            return Err(ApiError::invalid(vec![FieldError::new(
                "after",
                "is not a message on this handset",
            )]));
        }
    }
    let give_up = tokio::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let delivered = state.core.delivered.notified();
        tokio::pin!(delivered);
        delivered.as_mut().enable();
        // Whatever fell due is delivered before the inbox is read, so a test
        // never races the delivery job.
        deliver::deliver_due(&state.core).await?;
        let mut conn = state.core.pool.acquire().await?;
        let messages = handsets::inbox(&mut conn, mobile.as_str(), after).await?;
        drop(conn);
        if !messages.is_empty() || tokio::time::Instant::now() >= give_up {
            return Ok(Json(messages).into_response());
        }
        tokio::select! {
            _ = &mut delivered => {}
            _ = tokio::time::sleep_until(give_up) => {}
        }
    }
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
struct HandsetBody {
    state: Option<HandsetState>,
}

/// Sets a handset online, without signal (SMS wait), or blocking (SMS dropped).
#[utoipa::path(put, path = "/api/test/handsets/{mobile}", tag = "test hooks",
    params(("mobile" = String, Path)), request_body = HandsetBody,
    responses((status = 200, body = HandsetBody), (status = 422, body = ErrorBody)))]
async fn set_handset(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: JsonBody<HandsetBody>,
) -> Result<Response, ApiError> {
    let mobile = mobile(&raw)?;
    let Some(new_state) = body.value.state else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "state",
            "must be online, no_signal or blocking",
        )]));
    };
    handset::set_state(&state.core, &mobile, new_state).await?;
    Ok(Json(HandsetBody {
        state: Some(new_state),
    })
    .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClockView {
    now: DateTime<Utc>,
    #[serde(rename = "virtual")]
    is_virtual: bool,
}

#[utoipa::path(get, path = "/api/test/clock", tag = "test hooks",
    responses((status = 200, body = ClockView)))]
async fn read_clock(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = state.core.clock.now().await?;
    let is_virtual = state.core.clock.is_virtual();
    Ok(Json(ClockView { now, is_virtual }).into_response())
}

/// Either `advance_seconds` (0 or more) or `set` (not earlier than now).
#[derive(Deserialize, utoipa::ToSchema)]
struct ClockBody {
    advance_seconds: Option<i64>,
    /// A time with its offset, such as `2026-12-04T12:00:00+08:00`.
    // Parsed by the handler, so that a malformed time gets its own message.
    #[schema(value_type = Option<String>, format = DateTime)]
    set: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ClockMoved {
    now: Option<DateTime<Utc>>,
}

/// Moves the virtual clock forward, then runs at once whatever fell due.
#[utoipa::path(post, path = "/api/test/clock", tag = "test hooks", request_body = ClockBody,
    responses((status = 200, body = ClockMoved), (status = 409, body = ErrorBody, description = "The clock is not virtual"),
              (status = 422, body = ErrorBody)))]
async fn move_clock(
    State(state): State<AppState>,
    body: JsonBody<ClockBody>,
) -> Result<Response, ApiError> {
    let clock = &state.core.clock;
    if !clock.is_virtual() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "clock_not_virtual",
            "the clock can only be moved when the service runs with --clock virtual",
        ));
    }
    let current = clock.now().await?;
    // Far enough for any test, near enough that every date stays printable.
    let limit = chrono::NaiveDate::from_ymd_opt(9000, 1, 1)
        .expect("a date")
        .and_time(chrono::NaiveTime::MIN)
        .and_utc();
    let set = match body.value.set.as_deref().map(DateTime::parse_from_rfc3339) {
        None => None,
        Some(Ok(to)) => Some(to.to_utc()),
        Some(Err(_)) => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "set",
                "must be a time with its offset, such as 2026-12-04T12:00:00+08:00",
            )]));
        }
    };
    let moved = match (body.value.advance_seconds, set) {
        (Some(seconds), None) if (0..=10 * 365 * 86_400).contains(&seconds) => {
            // None: the clock, as other requests left it, would reach the limit.
            Some(
                clock
                    .advance(seconds, limit)
                    .await?
                    .ok_or_else(past_the_limit)?,
            )
        }
        (Some(_), None) => return Err(past_the_limit()),
        (None, Some(to)) if to >= current && to < limit => {
            // None: another request moved the clock past `to` since it was read.
            Some(clock.set(to).await?.ok_or_else(earlier_than_clock)?)
        }
        (None, Some(_)) => return Err(earlier_than_clock()),
        _ => {
            return Err(ApiError::invalid(vec![FieldError::new(
                "advance_seconds",
                "send either advance_seconds or set",
            )]));
        }
    };
    crate::jobs::run_due(&state.core)
        .await
        .map_err(ApiError::internal)?;
    state.core.announce().await;
    Ok(Json(ClockMoved { now: moved }).into_response())
}

fn past_the_limit() -> ApiError {
    ApiError::invalid(vec![FieldError::new(
        "advance_seconds",
        "must be between 0 and ten years of seconds, and keep the clock before the year 9000; the clock never goes back",
    )])
}

fn earlier_than_clock() -> ApiError {
    ApiError::invalid(vec![FieldError::new(
        "set",
        "must not be earlier than the clock's time, nor past the year 9000",
    )])
}

/// Empties every table of data, restarts the virtual clock at the real time
/// and the random generator from its seed.
#[utoipa::path(post, path = "/api/test/reset", tag = "test hooks", responses((status = 204)))]
async fn reset(State(state): State<AppState>) -> Result<Response, ApiError> {
    crate::store::erase_all(&state.core.pool).await?;
    state.core.reseed();
    state.core.announce().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct NewIsp {
    name: Option<String>,
    webhook_url: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct IspCreated {
    id: Uuid,
    /// Shown once: send as `Authorization: Bearer …`.
    api_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
}

#[utoipa::path(post, path = "/api/test/isps", tag = "test hooks", request_body = NewIsp,
    responses((status = 201, body = IspCreated), (status = 422, body = ErrorBody)))]
async fn create_isp(
    State(state): State<AppState>,
    body: JsonBody<NewIsp>,
) -> Result<Response, ApiError> {
    let name = text_field(body.value.name.as_deref().unwrap_or(""), 200)
        .map_err(|e| ApiError::invalid(vec![FieldError::new("name", e.message())]))?;
    let webhook_url =
        crate::flows::isp::webhook_url("webhook_url", body.value.webhook_url.as_deref())
            .map_err(|e| ApiError::invalid(vec![e]))?;
    let isp = crate::flows::isp::create(&state.core, &name, webhook_url.as_deref()).await?;
    let body = IspCreated {
        id: isp.id,
        api_key: isp.api_key,
        webhook_secret: isp.webhook_secret,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
