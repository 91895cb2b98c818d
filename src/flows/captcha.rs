//! Making and checking picture captchas.

use chrono::{DateTime, Utc};
use rand::Rng;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Core;
use crate::store::captchas;

/// Letters and digits that cannot be mistaken for one another in the picture.
const ALPHABET: &[u8] = b"ABCDEFGHKMNPQRSTUVWXYZ2345678";
pub const LENGTH: usize = 5;

/// Makes a captcha: its text is chosen now, its picture drawn only when asked for.
pub async fn create(core: &Core) -> Result<Uuid, sqlx::Error> {
    let now = core.clock.now().await?;
    let answer: String = core.with_rng(|rng| {
        (0..LENGTH)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect()
    });
    let mut conn = core.pool.acquire().await?;
    captchas::create(&mut conn, &answer, now, now + core.settings.captcha_ttl).await
}

/// Spends the captcha; true when it existed, was unused and unexpired, and the
/// answer matches ignoring case. A missing or malformed id is simply wrong.
/// It is spent on `conn`, in the transaction of the request it guards.
pub async fn check(
    conn: &mut PgConnection,
    id: Option<&str>,
    answer: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let Some(id) = id.and_then(|id| Uuid::parse_str(id.trim()).ok()) else {
        return Ok(false);
    };
    let answer = crate::domain::input::normalize(answer.unwrap_or(""));
    captchas::consume(conn, id, &answer, now).await
}
