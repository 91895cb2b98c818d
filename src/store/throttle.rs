//! Counters that limit how often something may happen. Each is one atomic
//! upsert, so concurrent requests cannot both slip under a limit.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{PgConnection, PgPool};

/// Counts a verify attempt for `mobile` in a fixed window; false when the
/// attempt is over the limit.
pub async fn verify_attempt(
    conn: &mut PgConnection,
    mobile: &str,
    now: DateTime<Utc>,
    window_seconds: i64,
    limit: i32,
) -> Result<bool, sqlx::Error> {
    let attempts: i32 = sqlx::query_scalar(
        "INSERT INTO verify_throttle AS t (mobile, window_start, attempts) VALUES ($1, $2, 1)
         ON CONFLICT (mobile) DO UPDATE SET
             attempts = CASE WHEN t.window_start <= $2 - make_interval(secs => $3)
                             THEN 1 ELSE t.attempts + 1 END,
             window_start = CASE WHEN t.window_start <= $2 - make_interval(secs => $3)
                                 THEN $2 ELSE t.window_start END
         RETURNING attempts",
    )
    .bind(mobile)
    .bind(now)
    .bind(window_seconds as f64)
    .fetch_one(conn)
    .await?;
    Ok(attempts <= limit)
}

/// Counts a request from a client address in a one-minute window; false when
/// it is over the limit.
pub async fn address_request(
    pool: &PgPool,
    address: &str,
    now: DateTime<Utc>,
    per_minute: u32,
) -> Result<bool, sqlx::Error> {
    let requests: i32 = sqlx::query_scalar(
        "INSERT INTO ip_throttle AS t (address, window_start, requests) VALUES ($1, $2, 1)
         ON CONFLICT (address) DO UPDATE SET
             requests = CASE WHEN t.window_start <= $2 - interval '1 minute'
                             THEN 1 ELSE t.requests + 1 END,
             window_start = CASE WHEN t.window_start <= $2 - interval '1 minute'
                                 THEN $2 ELSE t.window_start END
         RETURNING requests",
    )
    .bind(address)
    .bind(now)
    .fetch_one(pool)
    .await?;
    Ok(requests as i64 <= per_minute as i64)
}

/// Takes one manual resend from the mobile's allowance: refused (false) within
/// the cooldown of the last one, or past the daily cap of the China date.
pub async fn take_resend(
    conn: &mut PgConnection,
    mobile: &str,
    now: DateTime<Utc>,
    china_day: NaiveDate,
    cooldown_seconds: i64,
    daily_cap: i32,
) -> Result<bool, sqlx::Error> {
    let taken: Option<i32> = sqlx::query_scalar(
        "INSERT INTO resend_quota AS q (mobile, china_day, day_count, last_at) VALUES ($1, $3, 1, $2)
         ON CONFLICT (mobile) DO UPDATE SET
             day_count = CASE WHEN q.china_day = excluded.china_day THEN q.day_count + 1 ELSE 1 END,
             china_day = excluded.china_day,
             last_at = excluded.last_at
         WHERE q.last_at <= $2 - make_interval(secs => $4)
           AND (q.china_day <> excluded.china_day OR q.day_count < $5)
         RETURNING day_count",
    )
    .bind(mobile)
    .bind(now)
    .bind(china_day)
    .bind(cooldown_seconds as f64)
    .bind(daily_cap)
    .fetch_optional(conn)
    .await?;
    Ok(taken.is_some())
}
