//! Picture captchas: the answer is chosen when the captcha is made and kept
//! here, so that any instance can check it; the picture is drawn on demand.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub async fn create(
    conn: &mut PgConnection,
    answer: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO captchas (id, answer, created_at, expires_at) VALUES ($1, $2, $3, $4)
         RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(answer)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

/// Spends the captcha and says whether the answer was right. A captcha is
/// spent by its first try, right or wrong; an unknown, spent or expired one is
/// simply wrong.
pub async fn consume(
    conn: &mut PgConnection,
    id: Uuid,
    answer: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let expected: Option<String> = sqlx::query_scalar(
        "UPDATE captchas SET used_at = $2
         WHERE id = $1 AND used_at IS NULL AND expires_at > $2 RETURNING answer",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(expected.is_some_and(|expected| expected.eq_ignore_ascii_case(answer)))
}

/// The answer of a captcha that can still be used, for drawing its picture.
pub async fn open_answer(
    pool: &PgPool,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT answer FROM captchas WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(pool)
    .await
}

/// The answer whatever the captcha's state (test hook).
pub async fn answer(pool: &PgPool, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT answer FROM captchas WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Forgets captchas that expired more than an hour ago.
pub async fn purge(pool: &PgPool, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM captchas WHERE expires_at < $1 - interval '1 hour'")
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}
