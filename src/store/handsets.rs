//! Emulated handsets: their state and their inbox.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandsetState {
    Online,
    NoSignal,
    Blocking,
}

impl HandsetState {
    pub fn as_str(self) -> &'static str {
        match self {
            HandsetState::Online => "online",
            HandsetState::NoSignal => "no_signal",
            HandsetState::Blocking => "blocking",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InboxMessage {
    pub id: Uuid,
    pub sender: Option<String>,
    pub body: String,
    pub code: String,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Makes a handset, online, for each of these mobiles that has none yet.
/// They are written in the order of their numbers, so that two filings
/// naming the same new mobiles in other orders take turns instead of each
/// waiting on a handset the other has just written.
pub async fn ensure_all(conn: &mut PgConnection, mobiles: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO handsets (mobile)
         SELECT DISTINCT mobile FROM unnest($1::text[]) AS t (mobile) ORDER BY mobile
         ON CONFLICT (mobile) DO NOTHING",
    )
    .bind(mobiles)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_state(
    conn: &mut PgConnection,
    mobile: &str,
    state: HandsetState,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO handsets (mobile, state) VALUES ($1, $2)
         ON CONFLICT (mobile) DO UPDATE SET state = excluded.state",
    )
    .bind(mobile)
    .bind(state.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// The delivered messages of one handset in the order they arrived, all of
/// them or those that arrived after message `after`.
pub async fn inbox(
    conn: &mut PgConnection,
    mobile: &str,
    after: Option<Uuid>,
) -> Result<Vec<InboxMessage>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.sender, s.body, c.code, s.delivered_at
         FROM sms s JOIN codes c ON c.id = s.code_id
         WHERE s.mobile = $1 AND s.state = 'delivered'
           AND ($2::uuid IS NULL OR s.delivery_order >
                (SELECT delivery_order FROM sms WHERE id = $2 AND mobile = $1))
         ORDER BY s.delivery_order",
    )
    .bind(mobile)
    .bind(after)
    .fetch_all(conn)
    .await
}

/// Whether `id` is a message delivered to this handset.
pub async fn has_message(
    conn: &mut PgConnection,
    mobile: &str,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sms WHERE id = $2 AND mobile = $1 AND state = 'delivered')",
    )
    .bind(mobile)
    .bind(id)
    .fetch_one(conn)
    .await
}
