//! Where every rule gets the time from.
//!
//! The virtual clock lives in PostgreSQL, so every instance on one database
//! sees the same time. It stands still until a test hook sets or advances it,
//! which keeps integration tests repeatable.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

#[derive(Clone)]
pub enum Clock {
    System,
    Virtual(PgPool),
}

impl Clock {
    pub async fn now(&self) -> Result<DateTime<Utc>, sqlx::Error> {
        match self {
            Clock::System => Ok(Utc::now()),
            Clock::Virtual(pool) => self.now_on(&mut *pool.acquire().await?).await,
        }
    }

    /// The time, read on `conn` (a transaction's own connection), so that a
    /// task holding a transaction and a lock never waits for a second
    /// connection from the pool, which tasks waiting for that lock may hold.
    pub async fn now_on(&self, conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
        self.read_on(conn, "SELECT now FROM virtual_clock").await
    }

    /// [`Clock::now_on`], after which a virtual clock stays at that time until
    /// the transaction on `conn` ends (a move waits for it): for work that
    /// stamps the time on changes that other work, at a later time, must not
    /// see before them.
    pub async fn now_held(&self, conn: &mut PgConnection) -> Result<DateTime<Utc>, sqlx::Error> {
        self.read_on(conn, "SELECT now FROM virtual_clock FOR SHARE")
            .await
    }

    async fn read_on(
        &self,
        conn: &mut PgConnection,
        read: &'static str,
    ) -> Result<DateTime<Utc>, sqlx::Error> {
        if let Clock::System = self {
            return Ok(Utc::now());
        }
        let now = sqlx::query_scalar(read).fetch_optional(&mut *conn).await?;
        match now {
            Some(now) => Ok(now),
            // The first reading starts the virtual clock at the real time,
            // unless a concurrent first reading started it already.
            None => {
                sqlx::query_scalar(
                    "INSERT INTO virtual_clock (now) VALUES ($1)
                     ON CONFLICT (id) DO UPDATE SET now = virtual_clock.now RETURNING now",
                )
                .bind(Utc::now())
                .fetch_one(conn)
                .await
            }
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Moves the virtual clock forward, in one statement so that a reset or
    /// another instance moving it meanwhile loses no step, unless that would
    /// take it to `before` or past, whatever other requests did first; `None`
    /// then, and on the system clock.
    pub async fn advance(
        &self,
        seconds: i64,
        before: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let Clock::Virtual(pool) = self else {
            return Ok(None);
        };
        sqlx::query_scalar(
            "INSERT INTO virtual_clock (now) VALUES ($1 + make_interval(secs => $2))
             ON CONFLICT (id) DO UPDATE SET now = virtual_clock.now + make_interval(secs => $2)
             WHERE virtual_clock.now + make_interval(secs => $2) < $3
             RETURNING now",
        )
        .bind(Utc::now())
        .bind(seconds as f64)
        .bind(before)
        .fetch_optional(pool)
        .await
    }

    /// Sets the virtual clock to `to` unless it already stands later: the
    /// clock never goes back, even when several requests set it at once.
    /// `None` when it stood later (or on the system clock).
    pub async fn set(&self, to: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
        let Clock::Virtual(pool) = self else {
            return Ok(None);
        };
        sqlx::query_scalar(
            "INSERT INTO virtual_clock (now) VALUES ($1)
             ON CONFLICT (id) DO UPDATE SET now = excluded.now
             WHERE virtual_clock.now <= excluded.now
             RETURNING now",
        )
        .bind(to)
        .fetch_optional(pool)
        .await
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

/// The latest moment at or before `now` when the China wall clock read `at`.
pub fn latest_daily(now: DateTime<Utc>, at: chrono::NaiveTime) -> DateTime<Utc> {
    use chrono::TimeZone;
    let today = china_date(now).and_time(at);
    // China keeps no daylight saving time, so every wall time exists once.
    let today = CHINA
        .from_local_datetime(&today)
        .single()
        .expect("China has no DST gaps")
        .with_timezone(&Utc);
    if today <= now {
        today
    } else {
        today - chrono::Duration::days(1)
    }
}

/// The instant a China date begins.
pub fn china_midnight(day: chrono::NaiveDate) -> DateTime<Utc> {
    use chrono::TimeZone;
    CHINA
        .from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .single()
        .expect("China has no DST gaps")
        .with_timezone(&Utc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn noon_in_china_is_four_in_the_morning_utc() {
        let noon = NaiveTime::from_hms_opt(12, 0, 0).unwrap();
        assert_eq!(
            latest_daily(utc("2026-12-05T04:00:00Z"), noon),
            utc("2026-12-05T04:00:00Z")
        );
        assert_eq!(
            latest_daily(utc("2026-12-05T03:59:59Z"), noon),
            utc("2026-12-04T04:00:00Z")
        );
        // 23:30 UTC is already the next China date.
        assert_eq!(
            latest_daily(utc("2026-12-05T23:30:00Z"), noon),
            utc("2026-12-05T04:00:00Z")
        );
        assert_eq!(
            china_midnight(chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
            utc("2026-12-04T16:00:00Z")
        );
    }
}
