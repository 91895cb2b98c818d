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

/// Ends the live codes of these verifications, because new ones replace
/// them, and cancels their SMS that were not sent yet.
pub async fn replace_live(
    conn: &mut PgConnection,
    verification_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH replaced AS (
             UPDATE codes SET state = 'replaced', ended_at = $2
             WHERE verification_id = ANY($1) AND state = 'live'
             RETURNING id)
         UPDATE sms SET state = 'cancelled', state_reason = 'a newer code replaced it before it was sent'
         WHERE code_id IN (SELECT id FROM replaced) AND state = 'scheduled' AND due_at > $2",
    )
    .bind(verification_ids)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether the code can still be typed. Read under its filing's lock, which
/// every change to a filing's codes takes first, it stays true until the
/// transaction ends.
pub async fn is_live(conn: &mut PgConnection, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM codes WHERE id = $1 AND state = 'live')")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Inserts `codes[i]` as the live code of `verification_ids[i]` (of filing
/// `filing_ids[i]`), except where another live code anywhere (or earlier in
/// the list) has the same value. Returns `(verification id, code id)` of
/// those inserted; the caller draws again for the rest.
pub async fn insert_live(
    conn: &mut PgConnection,
    verification_ids: &[Uuid],
    filing_ids: &[Uuid],
    codes: &[&str],
    reason: CodeReason,
    now: DateTime<Utc>,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let ids: Vec<Uuid> = verification_ids.iter().map(|_| super::new_id()).collect();
    sqlx::query_as(
        "INSERT INTO codes (id, verification_id, filing_id, code, reason, issued_at)
         SELECT id, verification_id, filing_id, code, $5, $6
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[])
             AS t (id, verification_id, filing_id, code)
         ON CONFLICT (code) WHERE state = 'live' DO NOTHING
         RETURNING verification_id, id",
    )
    .bind(&ids)
    .bind(verification_ids)
    .bind(filing_ids)
    .bind(codes)
    .bind(reason.as_str())
    .bind(now)
    .fetch_all(conn)
    .await
}

/// The SMS that carry new codes, one column per field.
#[derive(Debug, Default)]
pub struct NewSms {
    pub code_ids: Vec<Uuid>,
    pub filing_ids: Vec<Uuid>,
    pub mobiles: Vec<String>,
    pub carriers: Vec<Option<&'static str>>,
    pub senders: Vec<Option<&'static str>>,
    pub bodies: Vec<String>,
}

/// Writes the SMS, due at `due_at`; one to a number no carrier serves is
/// undeliverable from the start. Returns the new SMS ids in order.
pub async fn insert_sms(
    conn: &mut PgConnection,
    sms: &NewSms,
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let ids: Vec<Uuid> = sms.code_ids.iter().map(|_| super::new_id()).collect();
    sqlx::query(
        "INSERT INTO sms (id, code_id, filing_id, mobile, carrier, sender, body, state,
                          state_reason, created_at, due_at)
         SELECT id, code_id, filing_id, mobile, carrier, sender, body,
                CASE WHEN carrier IS NULL THEN 'undeliverable' ELSE 'scheduled' END,
                CASE WHEN carrier IS NULL THEN 'no carrier serves this number segment' END,
                $8, $9
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                     $7::text[]) AS t (id, code_id, filing_id, mobile, carrier, sender, body)",
    )
    .bind(&ids)
    .bind(&sms.code_ids)
    .bind(&sms.filing_ids)
    .bind(&sms.mobiles)
    .bind(&sms.carriers)
    .bind(&sms.senders)
    .bind(&sms.bodies)
    .bind(now)
    .bind(due_at)
    .execute(conn)
    .await?;
    Ok(ids)
}

/// Hands due SMS to their handsets, at most `batch` of them, in the order
/// they were due: delivered to an online handset, held for one without
/// signal, dropped by a blocking one. Each move is an event on the filing's
/// timeline, in the same statement, at the time the SMS was due (when its
/// handset got it, however far the clock has moved since). Returns how many
/// SMS moved.
///
/// A handset read as not online is read again under a share lock, so that
/// one coming back online meanwhile either has committed, and is seen
/// online, or waits for this transaction and then releases what it held.
pub async fn deliver_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH due AS (
             SELECT s.id, s.mobile, s.due_at, s.seq, h.state AS handset
             FROM sms s JOIN handsets h ON h.mobile = s.mobile
             WHERE s.state = 'scheduled' AND s.due_at <= $1
             ORDER BY s.due_at, s.seq LIMIT $2
             FOR UPDATE OF s SKIP LOCKED),
         rechecked AS (
             SELECT mobile, state FROM handsets
             WHERE mobile IN (SELECT mobile FROM due WHERE handset <> 'online')
             FOR SHARE),
         judged AS (
             SELECT due.id, due.due_at, due.seq, coalesce(r.state, due.handset) AS handset
             FROM due LEFT JOIN rechecked r ON r.mobile = due.mobile),
         numbered AS (
             SELECT id, handset,
                    CASE WHEN handset = 'online' THEN nextval('sms_delivery_order') END
                        AS delivery_order
             FROM (SELECT * FROM judged ORDER BY due_at, seq) in_order),
         moved AS (
             UPDATE sms s SET
                 state = CASE n.handset WHEN 'online' THEN 'delivered'
                                        WHEN 'no_signal' THEN 'held' ELSE 'dropped' END,
                 state_reason = CASE n.handset WHEN 'online' THEN NULL
                                    WHEN 'no_signal' THEN 'the handset has no signal'
                                    ELSE 'an SMS-blocking app dropped it' END,
                 delivered_at = CASE WHEN n.handset = 'online' THEN s.due_at END,
                 delivery_order = n.delivery_order
             FROM numbered n WHERE s.id = n.id
             RETURNING s.id, s.filing_id, s.mobile, s.state, s.due_at, s.seq)
         INSERT INTO events (filing_id, at, kind, detail)
         SELECT filing_id, due_at, 'sms_' || state,
                jsonb_build_object('sms_id', id, 'mobile', mask_mobile(mobile))
         FROM moved ORDER BY due_at, seq",
    )
    .bind(now)
    .bind(batch)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Delivers the SMS held for a handset that is back online, in the order
/// they were due.
pub async fn release_held(
    conn: &mut PgConnection,
    mobile: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "WITH numbered AS (
             SELECT id, nextval('sms_delivery_order') AS delivery_order
             FROM (SELECT id FROM sms WHERE mobile = $1 AND state = 'held'
                   ORDER BY due_at, seq) in_order),
         moved AS (
             UPDATE sms s SET state = 'delivered', state_reason = NULL, delivered_at = $2,
                              delivery_order = n.delivery_order
             FROM numbered n WHERE s.id = n.id AND s.state = 'held'
             RETURNING s.id, s.filing_id, s.mobile, s.delivery_order)
         INSERT INTO events (filing_id, at, kind, detail)
         SELECT filing_id, $2, 'sms_delivered',
                jsonb_build_object('sms_id', id, 'mobile', mask_mobile(mobile))
         FROM moved ORDER BY delivery_order",
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
