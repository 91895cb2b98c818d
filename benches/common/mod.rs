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

/// Runs `bench` on a fresh database `name` (see [`fresh_database`]), then
/// stops the embedded cluster if that started one, whether the bench
/// succeeded or not, so that a failed run leaves no server behind.
pub async fn on_fresh_database<F, Fut>(name: &str, bench: F) -> anyhow::Result<()>
where
    F: FnOnce(PgPool) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let (pool, cluster) = fresh_database(name).await?;
    let outcome = bench(pool.clone()).await;
    pool.close().await;
    if let Some(cluster) = cluster {
        cluster.stop().await?;
    }
    outcome
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

/// How a verify load sends its requests.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// [`CLIENTS`] clients, each sending its next request as soon as the
    /// last is answered: as many as the service can take.
    Flat,
    /// This many requests a second, each sent when due whatever the others
    /// are doing; a request's latency counts from when it was due, so a
    /// stall is measured in full.
    #[allow(dead_code, reason = "the portal bench loads flat out only")]
    PerSecond(u32),
}

impl std::fmt::Display for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pace::Flat => write!(f, "{CLIENTS} clients, each sending as soon as answered"),
            Pace::PerSecond(rate) => write!(f, "{rate} requests a second"),
        }
    }
}

/// Sends the forms until they run out or, when `until` is given, until it
/// turns true; returns each request's latency.
pub async fn load(
    base: &str,
    forms: Vec<Value>,
    pace: Pace,
    until: Option<watch::Receiver<bool>>,
) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let url = format!("{base}/api/v1/verifications");
    let stopped = move || until.as_ref().is_some_and(|u| *u.borrow());
    let mut tasks = tokio::task::JoinSet::new();
    match pace {
        Pace::Flat => {
            let forms = std::sync::Arc::new(std::sync::Mutex::new(forms.into_iter()));
            for _ in 0..CLIENTS {
                let (client, url, forms, stopped) =
                    (client.clone(), url.clone(), forms.clone(), stopped.clone());
                tasks.spawn(async move {
                    let mut latencies = Vec::new();
                    while !stopped() {
                        let Some(form) = forms.lock().expect("forms").next() else {
                            break;
                        };
                        latencies.push(verify(&client, &url, &form, Instant::now()).await);
                    }
                    latencies
                });
            }
        }
        Pace::PerSecond(rate) => {
            let mut ticks =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for form in forms {
                let due = ticks.tick().await.into_std();
                if stopped() {
                    break;
                }
                let (client, url) = (client.clone(), url.clone());
                tasks.spawn(async move { vec![verify(&client, &url, &form, due).await] });
            }
        }
    }
    tasks.join_all().await.into_iter().flatten().collect()
}

/// Sends one verify form; how long since `due` it was answered.
async fn verify(client: &reqwest::Client, url: &str, form: &Value, due: Instant) -> Duration {
    let response = client.post(url).json(form).send().await.expect("request");
    assert!(
        response.status().is_success(),
        "verify answered {}",
        response.status()
    );
    due.elapsed()
}

/// Prints the latencies' count, p50 and p99, with the p99 as a multiple of
/// `idle_p99` when given; returns the p99.
pub fn report(what: &str, latencies: &[Duration], idle_p99: Option<Duration>) -> Option<Duration> {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |p: f64| {
        sorted
            .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
            .copied()
    };
    let (Some(p50), Some(p99)) = (at(0.5), at(0.99)) else {
        println!("{what}: no requests");
        return None;
    };
    let ratio = idle_p99
        .map(|idle| format!(" ({:.1} x idle)", p99.as_secs_f64() / idle.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{what}: {} requests, p50 {p50:.2?}, p99 {p99:.2?}{ratio}",
        sorted.len()
    );
    Some(p99)
}
