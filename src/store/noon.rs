//! The daily resend to every mobile still unverified.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub verification_id: Uuid,
    pub filing_id: Uuid,
    pub mobile: String,
    pub province: String,
    pub deadline: DateTime<Utc>,
}

/// Where a run of the resend has got to: the (filing `seq`, verification
/// `position`) of the last candidate it looked at.
pub type Cursor = (i64, i32);

/// Up to `batch` mobiles still waiting in a filing submitted before
/// `day_starts` that have not had the resend of `day`, after `cursor`, as
/// (verification id, filing id, their cursor), oldest filing first. Nothing is
/// locked yet. Going on from the cursor keeps each batch from reading again
/// the mobiles the batches before it claimed.
pub async fn candidates(
    conn: &mut PgConnection,
    day: NaiveDate,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
    cursor: Cursor,
    batch: i64,
) -> Result<Vec<(Uuid, Uuid, i64, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.id, f.id, f.seq, v.position
         FROM verifications v JOIN filings f ON f.id = v.filing_id
         WHERE f.state = 'awaiting_verification' AND v.state = 'pending'
           AND f.submitted_at < $2 AND f.deadline > $3
           AND f.seq >= $4 AND (f.seq, v.position) > ($4, $5)
           AND NOT EXISTS (SELECT 1 FROM noon_resends n
                           WHERE n.verification_id = v.id AND n.china_day = $1)
         ORDER BY f.seq, v.position
         LIMIT $6",
    )
    .bind(day)
    .bind(day_starts)
    .bind(now)
    .bind(cursor.0)
    .bind(cursor.1)
    .bind(batch)
    .fetch_all(conn)
    .await
}

/// Claims the resend of `day` for those candidates that still qualify, read
/// after their filings were locked, and returns them; the claim (a row per
/// mobile and day) keeps any later run from sending the same day's resend
/// again.
pub async fn claim(
    conn: &mut PgConnection,
    verification_ids: &[Uuid],
    day: NaiveDate,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "WITH claimed AS (
             INSERT INTO noon_resends (verification_id, china_day)
             SELECT v.id, $2 FROM verifications v JOIN filings f ON f.id = v.filing_id
             WHERE v.id = ANY($1) AND v.state = 'pending'
               AND f.state = 'awaiting_verification' AND f.submitted_at < $3 AND f.deadline > $4
             ON CONFLICT DO NOTHING
             RETURNING verification_id)
         SELECT v.id AS verification_id, f.id AS filing_id, v.mobile, f.province, f.deadline
         FROM claimed JOIN verifications v ON v.id = claimed.verification_id
         JOIN filings f ON f.id = v.filing_id
         ORDER BY f.seq, v.position",
    )
    .bind(verification_ids)
    .bind(day)
    .bind(day_starts)
    .bind(now)
    .fetch_all(conn)
    .await
}
