//! Posting queued webhook events to the ISPs' receivers: signed, retried with
//! exponential back-off for a day, every try recorded. Runs apart from the
//! requests and the other jobs, so a slow or dead receiver delays nothing else.

use std::time::{Duration, Instant};

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::task::JoinSet;

use super::{Core, view};
use crate::store::webhooks::{self, Claimed, Next, Try};

pub const SIGNATURE_HEADER: &str = "X-Beian-Signature";
pub const EVENT_HEADER: &str = "X-Beian-Event";
/// Deliveries tried at once.
const BATCH: i64 = 50;
/// How long a receiver has to answer one try.
const TIMEOUT: Duration = Duration::from_secs(5);
/// A try cut short (a crash) is made again after this.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::days(1);

/// The wait before the try after `tries` failed ones: 10 s, 20 s, 40 s, … up to an hour.
pub fn backoff(tries: i32) -> chrono::Duration {
    let seconds = 10i64.saturating_mul(1i64 << tries.clamp(0, 20));
    chrono::Duration::seconds(seconds.min(3600))
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Tries every due delivery once; returns how many were tried.
pub async fn deliver_due(core: &Core, client: &reqwest::Client) -> Result<usize, sqlx::Error> {
    let now = core.clock.now().await?;
    let claimed = {
        let mut conn = core.pool.acquire().await?;
        webhooks::claim_due(&mut conn, now, now + LEASE, BATCH).await?
    };
    let tried = claimed.len();
    let mut tries = JoinSet::new();
    for delivery in claimed {
        tries.spawn(try_once(core.clone(), client.clone(), delivery));
    }
    while let Some(done) = tries.join_next().await {
        match done {
            Ok(Err(e)) => tracing::warn!(error = %e, "a webhook try could not be recorded"),
            Err(e) => tracing::warn!(error = %e, "a webhook try panicked"),
            Ok(Ok(())) => {}
        }
    }
    Ok(tried)
}

/// One try of one delivery. No database connection is held while the
/// receiver takes its time, so slow receivers cannot starve the requests.
async fn try_once(
    core: Core,
    client: reqwest::Client,
    delivery: Claimed,
) -> Result<(), sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    let body = match delivery.body {
        Some(body) => body,
        None => {
            let filing = view::filing(&mut conn, delivery.filing_id, false)
                .await?
                .map(|(_, f)| f);
            let body = json!({
                "id": delivery.id,
                "type": delivery.event_type,
                "created_at": delivery.created_at,
                "data": { "filing": filing },
            })
            .to_string();
            webhooks::keep_body(&mut conn, delivery.id, &body).await?;
            body
        }
    };
    drop(conn);
    let now = core.clock.now().await?;
    let (Some(url), Some(secret)) = (delivery.url, delivery.secret) else {
        let mut conn = core.pool.acquire().await?;
        let error = "the ISP has no webhook URL any more";
        let t = Try {
            delivery_id: delivery.id,
            at: now,
            status: None,
            error: Some(error),
            duration_ms: 0,
            outcome: Next::GiveUp,
        };
        return webhooks::record_try(&mut conn, t).await;
    };
    // The signature's time is the real one: receivers check it against theirs.
    let t = Utc::now().timestamp();
    let started = Instant::now();
    let sent = client
        .post(&url)
        .timeout(TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(SIGNATURE_HEADER, signature(&secret, t, &body))
        .header(EVENT_HEADER, &delivery.event_type)
        .body(body)
        .send()
        .await;
    let duration_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let (status, error) = match &sent {
        Ok(response) if response.status().is_success() => (Some(response.status().as_u16()), None),
        Ok(response) => (
            Some(response.status().as_u16()),
            Some(format!("the receiver answered {}", response.status())),
        ),
        Err(e) if e.is_timeout() => (
            None,
            Some(format!("no answer within {} seconds", TIMEOUT.as_secs())),
        ),
        Err(e) if e.is_connect() => (None, Some("could not connect to the receiver".to_string())),
        Err(_) => (None, Some("the request to the receiver failed".to_string())),
    };
    let outcome = match (error.is_none(), now + backoff(delivery.attempts)) {
        (true, _) => Next::Delivered,
        (false, next) if next - delivery.created_at > GIVE_UP_AFTER => Next::GiveUp,
        (false, next) => Next::RetryAt(next),
    };
    let t = Try {
        delivery_id: delivery.id,
        at: now,
        status,
        error: error.as_deref(),
        duration_ms,
        outcome,
    };
    let mut conn = core.pool.acquire().await?;
    webhooks::record_try(&mut conn, t).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (0..10).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]);
        assert_eq!(backoff(1000).num_seconds(), 3600);
    }
}
