//! Where every rule gets the time from.
//!
//! The virtual clock lives in PostgreSQL, so every instance on one database
//! sees the same time. It stands still until a test hook sets or advances it,
//! which keeps integration tests repeatable.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

#[derive(Clone)]
pub enum Clock {
    System,
    Virtual(PgPool),
}

impl Clock {
    pub async fn now(&self) -> Result<DateTime<Utc>, sqlx::Error> {
        match self {
            Clock::System => Ok(Utc::now()),
            Clock::Virtual(pool) => {
                // The first reading starts the virtual clock at the real time.
                sqlx::query_scalar(
                    "WITH started AS (
                         INSERT INTO virtual_clock (now) VALUES ($1)
                         ON CONFLICT (id) DO NOTHING RETURNING now)
                     SELECT now FROM started UNION ALL SELECT now FROM virtual_clock LIMIT 1",
                )
                .bind(Utc::now())
                .fetch_one(pool)
                .await
            }
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Moves the virtual clock forward; `None` on the system clock.
    pub async fn advance(&self, seconds: i64) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let Clock::Virtual(pool) = self else {
            return Ok(None);
        };
        self.now().await?;
        sqlx::query_scalar(
            "UPDATE virtual_clock SET now = now + make_interval(secs => $1) RETURNING now",
        )
        .bind(seconds as f64)
        .fetch_one(pool)
        .await
        .map(Some)
    }

    /// Sets the virtual clock; `None` on the system clock.
    pub async fn set(&self, to: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let Clock::Virtual(pool) = self else {
            return Ok(None);
        };
        sqlx::query_scalar(
            "INSERT INTO virtual_clock (now) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET now = excluded.now RETURNING now",
        )
        .bind(to)
        .fetch_one(pool)
        .await
        .map(Some)
    }
}

/// China Standard Time, in which people see every date and the daily schedule runs.
pub const CHINA: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// A time as people read it on the portal: `2026-12-04 14:05 (UTC+8)`.
pub fn china_display(at: DateTime<Utc>) -> String {
    at.with_timezone(&CHINA)
        .format("%Y-%m-%d %H:%M (UTC+8)")
        .to_string()
}

/// The China date of an instant.
pub fn china_date(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&CHINA).date_naive()
}
