//! How many verify pages, each with its captcha picture, the portal serves a
//! second, and what that does to verify latency.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench portal
//!
//! Without DATABASE_URL it uses the embedded cluster under `target/bench-pg`.

mod common;

use std::time::{Duration, Instant};

use beian_sms::clock::Clock;
use beian_sms::config::Settings;
use beian_sms::flows::Core;
use beian_sms::flows::submit::{FilingRequest, submit};
use beian_sms::{AppState, router, serve};
use common::{CLIENTS, Pace, count, load, on_fresh_database, report, verify_forms};
use serde_json::json;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    on_fresh_database("beian_bench_portal", bench).await
}

async fn bench(pool: PgPool) -> anyhow::Result<()> {
    let seconds = count("BENCH_SECONDS", 10) as u64;
    let settings = Settings {
        ip_rate_limit: 0,
        verify_attempts: i32::MAX,
        sms_delay: chrono::Duration::zero(),
        ..Settings::default()
    };
    let core = Core::new(pool.clone(), Clock::System, settings);
    let isp = beian_sms::flows::isp::create(&core, "Bench ISP", None).await?;
    let filings = 6_000;
    for i in 0..filings {
        let body = json!({
            "province": "gs", "kind": "new_filing", "isp_reference": format!("BENCH-{i}"),
            "subject": {
                "name": "Bench Co., Ltd.", "certificate_type": "business_license",
                "certificate_number": "91620100MA0000000X",
                "responsible_person": { "name": "Bench Person", "certificate_number": "62010219800101123X",
                                        "mobile": format!("139{i:08}") },
            },
            "websites": [{ "name": "Bench", "domains": ["bench.cn"],
                           "responsible_person": { "name": "Bench Person", "certificate_number": "62010219800101123X",
                                                   "mobile": format!("139{i:08}") } }],
        });
        let raw = serde_json::to_vec(&body)?;
        let request: FilingRequest = serde_json::from_value(body)?;
        submit(&core, isp.id, None, &raw, request).await?;
    }
    let records: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT v.mobile, c.code, v.certificate_tail FROM verifications v
         JOIN codes c ON c.verification_id = v.id WHERE c.state = 'live'",
    )
    .fetch_all(&pool)
    .await?;
    let mut forms = verify_forms(&core, records).await?.into_iter();

    let state = AppState::new(core.clone()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, mut stopped) = watch::channel(false);
    tokio::spawn(serve(listener, router(state), async move {
        let _ = stopped.changed().await;
    }));

    let idle = load(
        &base,
        forms.by_ref().take(2_000).collect(),
        Pace::Flat,
        None,
    )
    .await;
    let idle_p99 = report("verify, idle", &idle, None);

    let (done, finished) = watch::channel(false);
    let pages = tokio::spawn(page_load(base.clone(), Duration::from_secs(seconds), done));
    let busy = load(&base, forms.by_ref().collect(), Pace::Flat, Some(finished)).await;
    let (served, took, latencies) = pages.await?;
    println!(
        "verify pages with their captcha picture: {served} in {took:.1?}, {:.0} a second",
        served as f64 / took.as_secs_f64()
    );
    report("page and picture", &latencies, None);
    report("verify, while pages are served", &busy, idle_p99);
    let _ = stop.send(true);
    Ok(())
}

/// CLIENTS clients each fetch the verify form and its captcha picture, over
/// and over, for `duration`; then `done` turns true.
async fn page_load(
    base: String,
    duration: Duration,
    done: watch::Sender<bool>,
) -> (usize, Duration, Vec<Duration>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while started.elapsed() < duration {
                let one = Instant::now();
                let page = client
                    .get(format!("{base}/p/gs/verify"))
                    .send()
                    .await
                    .expect("page");
                let html = page.text().await.expect("html");
                let marker = "/captchas/";
                let at = html.find(marker).expect("a captcha in the page") + marker.len();
                let id = &html[at..at + 36];
                let picture = client
                    .get(format!("{base}/captchas/{id}/image"))
                    .send()
                    .await
                    .expect("picture");
                assert!(picture.status().is_success());
                picture.bytes().await.expect("png");
                latencies.push(one.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("page client"));
    }
    let took = started.elapsed();
    let _ = done.send(true);
    (all.len(), took, all)
}
