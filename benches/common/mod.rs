//! What the benchmarks share: a database of their own, a verify load that
//! records each request's latency, and the report of those latencies.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use beian_sms::embedded_pg::EmbeddedPostgres;
use beian_sms::{db, flows::Core};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::watch;

/// Concurrent clients of every load.
pub const CLIENTS: usize = 4;

pub fn count(name: &str, default: i64) -> i64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A migrated, empty database named `name` (dropped first if it exists), on
/// DATABASE_URL's server or on the embedded cluster under `target/bench-pg`.
/// The cluster, if one was started, is returned to keep it alive.
pub async fn fresh_database(name: &str) -> anyhow::Result<(PgPool, Option<EmbeddedPostgres>)> {
    let (admin_url, url, cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) => {
            let (head, query) = url
                .split_once('?')
                .map_or((url.as_str(), None), |(h, q)| (h, Some(q)));
            let base = head.rsplit_once('/').map_or(head, |(base, _)| base);
            let bench = match query {
                Some(q) => format!("{base}/{name}?{q}"),
                None => format!("{base}/{name}"),
            };
            (url.clone(), bench, None)
        }
        Err(_) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-pg");
            let cluster = EmbeddedPostgres::start(&dir).await?;
            (
                cluster.url_for("postgres"),
                cluster.url_for(name),
                Some(cluster),
            )
        }
    };
    let mut admin = PgConnection::connect(&admin_url).await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await?;
    let pool = db::connect(&url, 20).await?;
    db::migrate(&pool).await?;
    Ok((pool, cluster))
}

/// Verify forms for these (mobile, code, certificate tail) triples, each with
/// a captcha answered in advance.
pub async fn verify_forms(
    core: &Core,
    records: Vec<(String, String, String)>,
) -> anyhow::Result<Vec<Value>> {
    let now = core.clock.now().await?;
    let captchas: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO captchas (id, answer, created_at, expires_at)
         SELECT gen_random_uuid(), 'ABCDE', $2, $2 + interval '1 day'
         FROM generate_series(1, $1) RETURNING id",
    )
    .bind(records.len() as i64)
    .bind(now)
    .fetch_all(&core.pool)
    .await?;
    Ok(records
        .into_iter()
        .zip(captchas)
        .map(|((mobile, code, tail), captcha)| {
            json!({
                "province": "gs", "certificate_last6": tail, "mobile": mobile, "code": code,
                "captcha_id": captcha, "captcha_answer": "ABCDE",
            })
        })
        .collect())
}

/// Sends the forms from CLIENTS concurrent clients, until they run out or, when
/// `until` is given, until it turns true; returns each request's latency.
pub async fn load(
    base: &str,
    forms: Vec<Value>,
    until: Option<watch::Receiver<bool>>,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let forms = std::sync::Arc::new(tokio::sync::Mutex::new(forms.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, forms, until, url) = (
            client.clone(),
            forms.clone(),
            until.clone(),
            format!("{base}/api/v1/verifications"),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                if until.as_ref().is_some_and(|u| *u.borrow()) {
                    break;
                }
                let Some(form) = forms.lock().await.next() else {
                    break;
                };
                let started = Instant::now();
                let response = client.post(&url).json(&form).send().await.expect("request");
                assert!(
                    response.status().is_success(),
                    "verify answered {}",
                    response.status()
                );
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("client task"));
    }
    all
}

pub fn report(what: &str, latencies: &[Duration]) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |p: f64| {
        sorted.get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
    };
    match (at(0.5), at(0.99)) {
        (Some(p50), Some(p99)) => {
            println!(
                "{what}: {} requests, p50 {p50:.2?}, p99 {p99:.2?}",
                sorted.len()
            )
        }
        _ => println!("{what}: no requests"),
    }
}
