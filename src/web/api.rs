//! The ISP API: submit filings and read them back, each ISP seeing only its own.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use super::error::ErrorBody;
use super::json::JsonBody;
use super::{ApiError, AppState};
use crate::domain::kind::FilingKind;
use crate::domain::province;
use crate::flows::FieldError;
use crate::flows::submit::{FilingRequest, SubmitError, submit};
use crate::flows::view::{self, FilingView};
use crate::store::filings::{self, ListFilter, VerificationRow};
use crate::store::isps::{self, Isp};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/filings", get(list).post(create))
        .route("/api/v1/filings/{id}", get(show))
        .route("/api/v1/webhook", axum::routing::put(set_webhook))
        .route("/api/v1/webhook-deliveries", get(deliveries))
}

/// The ISP whose bearer key came with the request.
pub struct Authenticated(pub Isp);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send the ISP's API key as `Authorization: Bearer KEY`",
            )
        };
        let key = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key)
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(unauthorized)?;
        let mut conn = state.core.pool.acquire().await?;
        let isp = isps::by_key(&mut conn, key)
            .await?
            .ok_or_else(unauthorized)?;
        Ok(Authenticated(isp))
    }
}

/// The filing with its verifications and timeline, if it is this ISP's.
async fn load(state: &AppState, isp: &Isp, id: Uuid) -> Result<FilingView, ApiError> {
    crate::flows::expire::if_due(&state.core, id).await?;
    let mut conn = state.core.pool.acquire().await?;
    match view::filing(&mut conn, id, true).await? {
        Some((owner, filing)) if owner == isp.id => Ok(filing),
        _ => Err(ApiError::not_found("filing")),
    }
}

/// Submits a filing; the mobiles that must verify get their codes by SMS.
#[utoipa::path(post, path = "/api/v1/filings", tag = "ISP API", security(("isp_key" = [])),
    request_body = FilingRequest,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "A retry with the same key and body makes nothing twice")),
    responses(
        (status = 201, body = FilingView, description = "The filing, with `Idempotent-Replayed: true` on a retry"),
        (status = 400, body = ErrorBody, description = "Malformed JSON"),
        (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The key was used for a different request"),
        (status = 422, body = ErrorBody, description = "Invalid fields, each named by its path")))]
async fn create(
    State(state): State<AppState>,
    Authenticated(isp): Authenticated,
    headers: HeaderMap,
    body: JsonBody<FilingRequest>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::invalid(vec![FieldError::new(
                        "Idempotency-Key",
                        "must be 1 to 255 visible ASCII characters",
                    )])
                })?,
        ),
    };
    let submitted = submit(&state.core, isp.id, key, &body.raw, body.value)
        .await
        .map_err(|e| match e {
            SubmitError::Invalid(errors) => ApiError::invalid(errors),
            SubmitError::KeyReused => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            ),
            SubmitError::Issue(e) => ApiError::internal(e),
        })?;
    let view = load(&state, &isp, submitted.filing_id).await?;
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    if !submitted.created {
        response
            .headers_mut()
            .insert("idempotent-replayed", "true".parse().expect("static"));
    }
    Ok(response)
}

/// A filing with its verifications and timeline.
#[utoipa::path(get, path = "/api/v1/filings/{id}", tag = "ISP API", security(("isp_key" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = FilingView), (status = 401, body = ErrorBody),
               (status = 404, body = ErrorBody, description = "Unknown, or another ISP's")))]
async fn show(
    State(state): State<AppState>,
    Authenticated(isp): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<FilingView>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::not_found("filing"))?;
    Ok(Json(load(&state, &isp, id).await?))
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A filing state, such as `awaiting_review`.
    state: Option<String>,
    /// A province code, such as `gs`.
    province: Option<String>,
    /// A filing kind, such as `new_filing`.
    kind: Option<String>,
    isp_reference: Option<String>,
    /// The `next_before` of the previous page.
    before: Option<i64>,
    /// 1 to 200; 50 when absent.
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ListPage {
    filings: Vec<FilingView>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<i64>,
}

const STATES: [&str; 5] = [
    "awaiting_verification",
    "awaiting_review",
    "approved",
    "rejected",
    "returned",
];

/// This ISP's filings, newest first.
#[utoipa::path(get, path = "/api/v1/filings", tag = "ISP API", security(("isp_key" = [])),
    params(ListQuery),
    responses((status = 200, body = ListPage), (status = 401, body = ErrorBody),
               (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    Authenticated(isp): Authenticated,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<ListPage>, ApiError> {
    let query = parse_list_query(&raw)?;
    let mut errors = Vec::new();
    if let Some(s) = query.state.as_deref().filter(|s| !STATES.contains(s)) {
        errors.push(FieldError::new(
            "state",
            format!("{s:?} is not a filing state"),
        ));
    }
    if query
        .province
        .as_deref()
        .is_some_and(|p| province::find(p).is_none())
    {
        errors.push(FieldError::new("province", "is not a known province code"));
    }
    if query
        .kind
        .as_deref()
        .is_some_and(|k| FilingKind::parse(k).is_none())
    {
        errors.push(FieldError::new("kind", "is not a filing kind"));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 200"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let filter = ListFilter {
        state: query.state.as_deref(),
        province: query
            .province
            .as_deref()
            .and_then(province::find)
            .map(|p| p.code),
        kind: query.kind.as_deref(),
        isp_reference: query.isp_reference.as_deref(),
        before: query.before,
        limit,
    };
    // The deadline applies to what is listed, whether or not the sweep has
    // come by; no connection is held while it does.
    let list = async || {
        let mut conn = state.core.pool.acquire().await?;
        filings::list_for_isp(&mut conn, isp.id, &filter).await
    };
    let mut rows = list().await?;
    let listed: Vec<_> = rows
        .iter()
        .map(|r| {
            let f = &r.filing;
            (f.id, f.state == "awaiting_verification", f.deadline)
        })
        .collect();
    if crate::flows::expire::any_due(&state.core, &listed).await? {
        rows = list().await?;
    }
    let mut conn = state.core.pool.acquire().await?;
    let ids: Vec<Uuid> = rows.iter().map(|r| r.filing.id).collect();
    let mut by_filing: HashMap<Uuid, Vec<VerificationRow>> = HashMap::new();
    for v in filings::verifications_of(&mut conn, &ids).await? {
        by_filing.entry(v.filing_id).or_default().push(v);
    }
    let next_before = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    let filings = rows
        .into_iter()
        .map(|listed| {
            let mine = by_filing.remove(&listed.filing.id).unwrap_or_default();
            FilingView::new(listed.filing, mine, None)
        })
        .collect();
    Ok(Json(ListPage {
        filings,
        next_before,
    }))
}

/// Reads the numeric query parameters by hand, to name the one that is not a number.
fn parse_list_query(raw: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        raw.get(name)
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    ApiError::invalid(vec![FieldError::new(name, "must be a whole number")])
                })
            })
            .transpose()
    };
    Ok(ListQuery {
        state: raw.get("state").cloned(),
        province: raw.get("province").cloned(),
        kind: raw.get("kind").cloned(),
        isp_reference: raw.get("isp_reference").cloned(),
        before: number("before")?,
        limit: number("limit")?,
    })
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
struct WebhookBody {
    url: Option<String>,
}

/// Sets (or, with no URL, removes) the ISP's webhook receiver; answers the
/// secret its events are signed with.
#[derive(Serialize, utoipa::ToSchema)]
struct WebhookView {
    url: Option<String>,
    /// Signs every event: `X-Beian-Signature: t=…,v1=<hex HMAC-SHA256 of "t.body">`.
    secret: Option<String>,
}

/// Sets (or, with `null`, removes) the receiver of this ISP's webhook events.
#[utoipa::path(put, path = "/api/v1/webhook", tag = "ISP API", security(("isp_key" = [])),
    request_body = WebhookBody,
    responses((status = 200, body = WebhookView), (status = 401, body = ErrorBody),
               (status = 422, body = ErrorBody)))]
async fn set_webhook(
    State(state): State<AppState>,
    Authenticated(isp): Authenticated,
    body: super::json::JsonBody<WebhookBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let url = crate::flows::isp::webhook_url("url", body.value.url.as_deref())
        .map_err(|e| ApiError::invalid(vec![e]))?;
    let secret = crate::flows::isp::set_webhook(&state.core, isp.id, url.as_deref()).await?;
    Ok(Json(WebhookView { url, secret }))
}

/// This ISP's newest webhook deliveries, each with every try.
#[utoipa::path(get, path = "/api/v1/webhook-deliveries", tag = "ISP API", security(("isp_key" = [])),
    params(("filing_id" = Option<Uuid>, Query)),
    responses((status = 200, body = Vec<crate::store::webhooks::Delivery>),
               (status = 401, body = ErrorBody)))]
async fn deliveries(
    State(state): State<AppState>,
    Authenticated(isp): Authenticated,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Vec<crate::store::webhooks::Delivery>>, ApiError> {
    let filing_id = match raw.get("filing_id") {
        None => None,
        Some(id) => Some(Uuid::parse_str(id.trim()).map_err(|_| {
            ApiError::invalid(vec![FieldError::new("filing_id", "is not a filing id")])
        })?),
    };
    let mut conn = state.core.pool.acquire().await?;
    let list = crate::store::webhooks::list_for_isp(&mut conn, isp.id, filing_id, 100).await?;
    Ok(Json(list))
}
