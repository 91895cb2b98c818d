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

/// Up to `batch` mobiles, still waiting in a filing submitted before
/// `day_starts`, that have not had the resend of `day`; their filings are
/// locked until the transaction ends.
pub async fn due(
    conn: &mut PgConnection,
    day: NaiveDate,
    day_starts: DateTime<Utc>,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.id AS verification_id, f.id AS filing_id, v.mobile, f.province, f.deadline
         FROM verifications v JOIN filings f ON f.id = v.filing_id
         WHERE f.state = 'awaiting_verification' AND v.state = 'pending'
           AND f.submitted_at < $2 AND f.deadline > $3
           AND NOT EXISTS (SELECT 1 FROM noon_resends n
                           WHERE n.verification_id = v.id AND n.china_day = $1)
         ORDER BY f.seq, v.position
         LIMIT $4
         FOR UPDATE OF f",
    )
    .bind(day)
    .bind(day_starts)
    .bind(now)
    .bind(batch)
    .fetch_all(conn)
    .await
}

/// Records the resend of `day` for the mobile; false when it was already done.
pub async fn claim(
    conn: &mut PgConnection,
    verification_id: Uuid,
    day: NaiveDate,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "INSERT INTO noon_resends (verification_id, china_day) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
    )
    .bind(verification_id)
    .bind(day)
    .execute(conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}
