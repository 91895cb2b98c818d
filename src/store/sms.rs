//! The SMS log, as operators read it.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Logged {
    pub seq: i64,
    pub filing_id: Uuid,
    pub mobile: String,
    pub carrier: Option<String>,
    pub sender: Option<String>,
    /// Why its code was issued: first, manual_resend or noon_resend.
    pub reason: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// Every SMS, newest first, optionally of one mobile or in one state.
pub async fn log(
    conn: &mut PgConnection,
    mobile: Option<&str>,
    state: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Logged>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.seq, s.filing_id, s.mobile, s.carrier, s.sender, c.reason, s.state, s.state_reason,
                s.created_at, s.due_at
         FROM sms s JOIN codes c ON c.id = s.code_id
         WHERE ($1::text IS NULL OR s.mobile = $1)
           AND ($2::text IS NULL OR s.state = $2)
           AND ($3::bigint IS NULL OR s.seq < $3)
         ORDER BY s.seq DESC LIMIT $4",
    )
    .bind(mobile)
    .bind(state)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A handset's state; `None` for a number no filing named.
pub async fn handset_state(
    conn: &mut PgConnection,
    mobile: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT state FROM handsets WHERE mobile = $1")
        .bind(mobile)
        .fetch_optional(conn)
        .await
}
