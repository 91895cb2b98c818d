//! The webhook outbox and its tries.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

/// Queues `event_type` for each filing whose ISP has a receiver, in the
/// caller's transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    filing_ids: &[Uuid],
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, isp_id, filing_id, event_type, created_at, next_attempt_at)
         SELECT gen_random_uuid(), f.isp_id, f.id, $2, $3, $3
         FROM filings f JOIN isps i ON i.id = f.isp_id
         WHERE f.id = ANY($1) AND i.webhook_url IS NOT NULL",
    )
    .bind(filing_ids)
    .bind(event_type)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub filing_id: Uuid,
    pub event_type: String,
    pub created_at: DateTime<Utc>,
    pub body: Option<String>,
    pub attempts: i32,
    pub url: Option<String>,
    pub secret: Option<String>,
}

/// Takes up to `batch` due deliveries for one try each: they are leased until
/// `lease_until`, so another instance does not try them meanwhile, and a try
/// cut short by a crash is made again after the lease.
pub async fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT id FROM webhook_deliveries
             WHERE state = 'pending' AND next_attempt_at <= $1
             ORDER BY next_attempt_at LIMIT $3
             FOR UPDATE SKIP LOCKED),
         leased AS (
             UPDATE webhook_deliveries d SET next_attempt_at = $2
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.isp_id, d.filing_id, d.event_type, d.created_at, d.body, d.attempts)
         SELECT leased.id, leased.filing_id, leased.event_type, leased.created_at, leased.body,
                leased.attempts, i.webhook_url AS url, i.webhook_secret AS secret
         FROM leased JOIN isps i ON i.id = leased.isp_id",
    )
    .bind(now)
    .bind(lease_until)
    .bind(batch)
    .fetch_all(conn)
    .await
}

/// Keeps the body of the first try, so that retries send the same bytes.
pub async fn keep_body(conn: &mut PgConnection, id: Uuid, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_deliveries SET body = $2 WHERE id = $1 AND body IS NULL")
        .bind(id)
        .bind(body)
        .execute(conn)
        .await?;
    Ok(())
}

pub struct Try<'a> {
    pub delivery_id: Uuid,
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub error: Option<&'a str>,
    pub duration_ms: i32,
    /// Where the delivery goes next: delivered, another try at a time, or given up.
    pub outcome: Next,
}

pub enum Next {
    Delivered,
    RetryAt(DateTime<Utc>),
    GiveUp,
}

/// Records a try and what follows from it, in one statement.
pub async fn record_try(conn: &mut PgConnection, t: Try<'_>) -> Result<(), sqlx::Error> {
    let (state, next) = match t.outcome {
        Next::Delivered => ("delivered", None),
        Next::RetryAt(at) => ("pending", Some(at)),
        Next::GiveUp => ("failed", None),
    };
    sqlx::query(
        "WITH tried AS (
             INSERT INTO webhook_attempts (delivery_id, at, status, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5))
         UPDATE webhook_deliveries SET
             attempts = attempts + 1,
             state = $6,
             next_attempt_at = COALESCE($7, next_attempt_at),
             delivered_at = CASE WHEN $6 = 'delivered' THEN $2 END
         WHERE id = $1",
    )
    .bind(t.delivery_id)
    .bind(t.at)
    .bind(t.status.map(i32::from))
    .bind(t.error)
    .bind(t.duration_ms)
    .bind(state)
    .bind(next)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn next_due(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(next_attempt_at) FROM webhook_deliveries WHERE state = 'pending'",
    )
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    pub filing_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    #[sqlx(json)]
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub at: DateTime<Utc>,
    pub status: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i32,
}

/// An ISP's deliveries, newest first, each with its tries.
pub async fn list_for_isp(
    conn: &mut PgConnection,
    isp_id: Uuid,
    filing_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.filing_id, d.event_type, d.state, d.created_at, d.delivered_at,
                COALESCE((SELECT json_agg(json_build_object('at', a.at, 'status', a.status,
                                                            'error', a.error,
                                                            'duration_ms', a.duration_ms)
                                          ORDER BY a.id)
                          FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempts
         FROM webhook_deliveries d
         WHERE d.isp_id = $1 AND ($2::uuid IS NULL OR d.filing_id = $2)
         ORDER BY d.created_at DESC, d.id LIMIT $3",
    )
    .bind(isp_id)
    .bind(filing_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
