//! The daily resend to every mobile still unverified.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::filings::DeadlineKey;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Due {
    pub verification_id: Uuid,
    pub filing_id: Uuid,
    pub mobile: String,
    pub province: String,
    pub deadline: DateTime<Utc>,
}

/// Up to `batch` filings submitted before `day_starts` that still wait and
/// whose deadline is after `now`, in deadline order after `after`. Going on
/// from the last one read keeps each batch from reading again what the
/// batches before it did.
pub async fn waiting_filings(
    conn: &mut PgConnection,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
    after: Option<DeadlineKey>,
    batch: i64,
) -> Result<Vec<DeadlineKey>, sqlx::Error> {
    let (after_deadline, after_id) = after.unzip();
    sqlx::query_as(
        "SELECT deadline, id FROM filings
         WHERE deadline > $2
           AND (deadline, id) > (coalesce($3, '-infinity'::timestamptz),
                                 coalesce($4, '00000000-0000-0000-0000-000000000000'::uuid))
           AND state = 'awaiting_verification' AND submitted_at < $1
         ORDER BY deadline, id LIMIT $5",
    )
    .bind(day_starts)
    .bind(now)
    .bind(after_deadline)
    .bind(after_id)
    .bind(batch)
    .fetch_all(conn)
    .await
}

/// Whether the resend of `day` has already reached every mobile due it.
pub async fn day_done(conn: &mut PgConnection, day: NaiveDate) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM noon_days WHERE china_day = $1)")
        .bind(day)
        .fetch_one(conn)
        .await
}

/// Records that the resend of `day` reached every mobile due it.
pub async fn finish_day(
    conn: &mut PgConnection,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO noon_days (china_day, finished_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(day)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the resend of `day` for the mobiles of these filings that still
/// qualify, read after the filings were locked, and returns them; the claim
/// (a row per mobile and day) keeps any later run from sending the same day's
/// resend again.
pub async fn claim(
    conn: &mut PgConnection,
    filing_ids: &[Uuid],
    day: NaiveDate,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "WITH claimed AS (
             INSERT INTO noon_resends (verification_id, china_day)
             SELECT v.id, $2 FROM verifications v JOIN filings f ON f.id = v.filing_id
             WHERE v.filing_id = ANY($1) AND v.state = 'pending'
               AND f.state = 'awaiting_verification' AND f.submitted_at < $3 AND f.deadline > $4
             ON CONFLICT DO NOTHING
             RETURNING verification_id)
         SELECT v.id AS verification_id, f.id AS filing_id, v.mobile, f.province, f.deadline
         FROM claimed JOIN verifications v ON v.id = claimed.verification_id
         JOIN filings f ON f.id = v.filing_id
         ORDER BY f.seq, v.position",
    )
    .bind(filing_ids)
    .bind(day)
    .bind(day_starts)
    .bind(now)
    .fetch_all(conn)
    .await
}
