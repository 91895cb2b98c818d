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

/// Claims the resend of `day` for up to `batch` mobiles still waiting in a
/// filing submitted before `day_starts`, and returns them; their filings are
/// locked until the transaction ends, and the claim (a row per mobile and day)
/// keeps any later run from sending them the same day's resend again.
pub async fn claim_due(
    conn: &mut PgConnection,
    day: NaiveDate,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "WITH due AS (
             SELECT v.id AS verification_id, f.id AS filing_id, v.mobile, f.province, f.deadline,
                    f.seq, v.position
             FROM verifications v JOIN filings f ON f.id = v.filing_id
             WHERE f.state = 'awaiting_verification' AND v.state = 'pending'
               AND f.submitted_at < $2 AND f.deadline > $3
               AND NOT EXISTS (SELECT 1 FROM noon_resends n
                               WHERE n.verification_id = v.id AND n.china_day = $1)
             ORDER BY f.seq, v.position
             LIMIT $4
             FOR UPDATE OF f),
         claimed AS (
             INSERT INTO noon_resends (verification_id, china_day)
             SELECT verification_id, $1 FROM due
             ON CONFLICT DO NOTHING
             RETURNING verification_id)
         SELECT due.verification_id, due.filing_id, due.mobile, due.province, due.deadline
         FROM due JOIN claimed USING (verification_id)
         ORDER BY due.seq, due.position",
    )
    .bind(day)
    .bind(day_starts)
    .bind(now)
    .bind(batch)
    .fetch_all(conn)
    .await
}
