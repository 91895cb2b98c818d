//! Operators and their sessions.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: Uuid,
    pub username: String,
    pub password_hash: String,
}

/// Adds an operator; `None` when the name is taken.
pub async fn add(
    conn: &mut PgConnection,
    username: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO operators (id, username, password_hash, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (username) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(username)
    .bind(password_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Sets a new password and signs the operator out everywhere; false for an unknown name.
pub async fn set_password(
    conn: &mut PgConnection,
    username: &str,
    password_hash: &str,
) -> Result<bool, sqlx::Error> {
    let changed: Option<Uuid> = sqlx::query_scalar(
        "WITH changed AS (
             UPDATE operators SET password_hash = $2 WHERE username = $1 RETURNING id),
         signed_out AS (
             DELETE FROM operator_sessions WHERE operator_id IN (SELECT id FROM changed))
         SELECT id FROM changed",
    )
    .bind(username)
    .bind(password_hash)
    .fetch_optional(conn)
    .await?;
    Ok(changed.is_some())
}

/// Removes an operator and its sessions; false for an unknown name.
pub async fn remove(conn: &mut PgConnection, username: &str) -> Result<bool, sqlx::Error> {
    let removed = sqlx::query("DELETE FROM operators WHERE username = $1")
        .bind(username)
        .execute(conn)
        .await?;
    Ok(removed.rows_affected() == 1)
}

pub async fn by_name(
    conn: &mut PgConnection,
    username: &str,
) -> Result<Option<Account>, sqlx::Error> {
    sqlx::query_as("SELECT id, username, password_hash FROM operators WHERE username = $1")
        .bind(username)
        .fetch_optional(conn)
        .await
}

/// A signed-in operator, as a request finds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Session {
    pub operator_id: Uuid,
    pub username: String,
    pub csrf_token: String,
}

pub async fn open_session(
    conn: &mut PgConnection,
    token_hash: &str,
    operator_id: Uuid,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO operator_sessions (token_hash, operator_id, csrf_token, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(operator_id)
    .bind(csrf_token)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn session(
    conn: &mut PgConnection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<Session>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.operator_id, o.username, s.csrf_token
         FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
         WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn close_session(conn: &mut PgConnection, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}
