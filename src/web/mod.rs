//! The HTTP face of the service: portal pages, the ISP API, the JSON twins of
//! the portal forms and the test hooks, on one router.

mod api;
mod csrf;
mod error;
mod hooks;
mod i18n;
mod json;
mod openapi;
mod ops;
mod portal;
mod twins;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::flows::Core;

pub use error::ApiError;
pub use openapi::ApiDoc;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    /// How many captcha pictures may be drawn at once (each is a few ms of CPU).
    captcha_permits: Arc<Semaphore>,
    csrf_key: Arc<Vec<u8>>,
}

impl AppState {
    /// Loads the keys the service keeps in the database (made on first start).
    pub async fn new(core: Core) -> Result<AppState, sqlx::Error> {
        let csrf_key = csrf::load_key(&core.pool).await?;
        let drawers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(AppState {
            core,
            captcha_permits: Arc::new(Semaphore::new(drawers)),
            csrf_key: Arc::new(csrf_key),
        })
    }
}

pub fn router(state: AppState) -> Router {
    let limited =
        portal::routes()
            .merge(twins::routes())
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                limit_by_address,
            ));
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(limited)
        .merge(api::routes())
        .merge(openapi::routes())
        .merge(ops::routes());
    if state.core.settings.test_hooks {
        app = app.merge(hooks::routes());
    }
    let app = app.fallback(portal::not_found).with_state(state);
    with_security_headers(app)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The matched route, never the raw URI: paths carry mobiles.
                    let route = request
                        .extensions()
                        .get::<axum::extract::MatchedPath>()
                        .map_or("unmatched", |p| p.as_str());
                    tracing::info_span!("request", method = %request.method(), route, request_id = id)
                })
                .on_response(|response: &Response, latency: Duration, _: &Span| {
                    tracing::info!(status = response.status().as_u16(), ms = latency.as_millis(), "answered");
                }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
}

/// Headers every answer carries: no inline script, no framing, no sniffing.
fn with_security_headers(app: Router) -> Router {
    let headers = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    headers.into_iter().fold(app, |app, (name, value)| {
        app.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    })
}

/// The per-address limit on portal and JSON-twin requests (`--ip-rate-limit`),
/// counted in PostgreSQL so that it holds across instances.
async fn limit_by_address(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let per_minute = state.core.settings.ip_rate_limit;
    if per_minute == 0 {
        return next.run(request).await;
    }
    let counted = async {
        let now = state.core.clock.now().await?;
        crate::store::throttle::address_request(
            &state.core.pool,
            &peer.ip().to_string(),
            now,
            per_minute,
        )
        .await
    }
    .await;
    match counted {
        Ok(true) => next.run(request).await,
        Ok(false) if request.uri().path().starts_with("/api/") => twins::rate_limited(),
        Ok(false) => portal::rate_limited(&request),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.core.pool).await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database not reachable",
            )
                .into_response()
        }
    }
}

/// Serves `app` on a bound listener until `shutdown` completes, then finishes
/// the requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
