//! Codes and the SMS that carry them.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Why a code was issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeReason {
    First,
    ManualResend,
    NoonResend,
}

impl CodeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeReason::First => "first",
            CodeReason::ManualResend => "manual_resend",
            CodeReason::NoonResend => "noon_resend",
        }
    }
}

/// Ends the verification's live code, if any, because a new one replaces it.
pub async fn replace_live(
    conn: &mut PgConnection,
    verification_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE codes SET state = 'replaced', ended_at = $2
         WHERE verification_id = $1 AND state = 'live'",
    )
    .bind(verification_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts `code` as the verification's live code, unless another live code
/// anywhere already has that value: then `None`, and the caller draws again.
pub async fn insert_live(
    conn: &mut PgConnection,
    verification_id: Uuid,
    code: &str,
    reason: CodeReason,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO codes (id, verification_id, code, reason, issued_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) WHERE state = 'live' DO NOTHING
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(verification_id)
    .bind(code)
    .bind(reason.as_str())
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub struct NewSms<'a> {
    pub code_id: Uuid,
    pub filing_id: Uuid,
    pub mobile: &'a str,
    pub carrier: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub body: &'a str,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

pub async fn insert_sms(conn: &mut PgConnection, sms: NewSms<'_>) -> Result<Uuid, sqlx::Error> {
    let (state, reason) = match sms.carrier {
        Some(_) => ("scheduled", None),
        None => (
            "undeliverable",
            Some("no carrier serves this number segment"),
        ),
    };
    sqlx::query_scalar(
        "INSERT INTO sms (id, code_id, filing_id, mobile, carrier, sender, body, state,
                          state_reason, created_at, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(sms.code_id)
    .bind(sms.filing_id)
    .bind(sms.mobile)
    .bind(sms.carrier)
    .bind(sms.sender)
    .bind(sms.body)
    .bind(state)
    .bind(reason)
    .bind(sms.created_at)
    .bind(sms.due_at)
    .fetch_one(conn)
    .await
}

/// Hands due SMS to their handsets, at most `batch` of them: delivered to an
/// online handset, held for one without signal, dropped by a blocking one.
/// Each move is an event on the filing's timeline, in the same statement.
/// Returns how many SMS moved.
pub async fn deliver_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH due AS (
             SELECT s.id, h.state AS handset FROM sms s JOIN handsets h ON h.mobile = s.mobile
             WHERE s.state = 'scheduled' AND s.due_at <= $1
             ORDER BY s.due_at LIMIT $2
             FOR UPDATE OF s SKIP LOCKED),
         moved AS (
             UPDATE sms s SET
                 state = CASE due.handset WHEN 'online' THEN 'delivered'
                                          WHEN 'no_signal' THEN 'held' ELSE 'dropped' END,
                 state_reason = CASE due.handset WHEN 'online' THEN NULL
                                    WHEN 'no_signal' THEN 'the handset has no signal'
                                    ELSE 'an SMS-blocking app dropped it' END,
                 delivered_at = CASE WHEN due.handset = 'online' THEN s.due_at END
             FROM due WHERE s.id = due.id
             RETURNING s.id, s.filing_id, s.mobile, s.state)
         INSERT INTO events (filing_id, at, kind, detail)
         SELECT filing_id, $1, 'sms_' || state,
                jsonb_build_object('sms_id', id, 'mobile', mask_mobile(mobile))
         FROM moved",
    )
    .bind(now)
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Delivers the SMS held for a handset that is back online.
pub async fn release_held(
    conn: &mut PgConnection,
    mobile: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH moved AS (
             UPDATE sms SET state = 'delivered', state_reason = NULL, delivered_at = $2
             WHERE mobile = $1 AND state = 'held'
             RETURNING id, filing_id, mobile)
         INSERT INTO events (filing_id, at, kind, detail)
         SELECT filing_id, $2, 'sms_delivered',
                jsonb_build_object('sms_id', id, 'mobile', mask_mobile(mobile))
         FROM moved",
    )
    .bind(mobile)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// When the next scheduled SMS falls due, for the delivery job's sleep.
pub async fn next_due(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT min(due_at) FROM sms WHERE state = 'scheduled'")
        .fetch_one(conn)
        .await
}
