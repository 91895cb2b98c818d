//! ISPs and their API keys (stored as SHA-256 hashes).

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Isp {
    pub id: Uuid,
    pub name: String,
}

pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub async fn create(
    conn: &mut PgConnection,
    name: &str,
    api_key: &str,
    webhook_url: Option<&str>,
    webhook_secret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO isps (id, name, api_key_hash, api_key_hint, webhook_url, webhook_secret,
                           created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(name)
    .bind(hash_key(api_key))
    .bind(key_hint(api_key))
    .bind(webhook_url)
    .bind(webhook_secret)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// What operators see of a key: its prefix and four characters.
fn key_hint(api_key: &str) -> String {
    api_key.chars().take(8).collect()
}

pub async fn by_key(conn: &mut PgConnection, api_key: &str) -> Result<Option<Isp>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM isps WHERE api_key_hash = $1")
        .bind(hash_key(api_key))
        .fetch_optional(conn)
        .await
}

/// Sets the receiver; a new one keeps the ISP's secret, or gets `fresh_secret`
/// if it had none. Returns the secret in force (`None` with no receiver).
pub async fn set_webhook(
    conn: &mut PgConnection,
    isp_id: Uuid,
    url: Option<&str>,
    fresh_secret: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE isps SET webhook_url = $2,
                         webhook_secret = CASE WHEN $2::text IS NULL THEN NULL
                                               ELSE COALESCE(webhook_secret, $3) END
         WHERE id = $1 RETURNING webhook_secret",
    )
    .bind(isp_id)
    .bind(url)
    .bind(fresh_secret)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub name: String,
    /// The key's opening characters, e.g. `bsk_1a2b`.
    pub api_key_hint: Option<String>,
    pub webhook_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub filings: i64,
}

/// Every ISP's id and name, by name: the choices of a filter.
pub async fn names(conn: &mut PgConnection) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, name FROM isps ORDER BY name")
        .fetch_all(conn)
        .await
}

/// Every ISP, newest first, with how many filings it submitted.
pub async fn list(conn: &mut PgConnection) -> Result<Vec<Listed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.name, i.api_key_hint, i.webhook_url, i.created_at,
                (SELECT count(*) FROM filings f WHERE f.isp_id = i.id) AS filings
         FROM isps i ORDER BY i.created_at DESC, i.name",
    )
    .fetch_all(conn)
    .await
}
