//! The timeline of a filing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

pub async fn record(
    conn: &mut PgConnection,
    filing_id: Uuid,
    at: DateTime<Utc>,
    kind: &str,
    detail: Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO events (filing_id, at, kind, detail) VALUES ($1, $2, $3, $4)")
        .bind(filing_id)
        .bind(at)
        .bind(kind)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records one event per filing, `kinds[i]` with `details[i]` on `filing_ids[i]`.
pub async fn record_many(
    conn: &mut PgConnection,
    filing_ids: &[Uuid],
    at: DateTime<Utc>,
    kinds: &[&str],
    details: &[Value],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (filing_id, at, kind, detail)
         SELECT filing_id, $2, kind, detail
         FROM unnest($1::uuid[], $3::text[], $4::jsonb[]) AS t (filing_id, kind, detail)",
    )
    .bind(filing_ids)
    .bind(at)
    .bind(kinds)
    .bind(details)
    .execute(conn)
    .await?;
    Ok(())
}

/// The timeline of a filing, oldest first. A return at the deadline is read
/// from the filing itself and shown at the deadline, the moment the rules
/// returned it (the sweep may have come by a little later).
pub async fn for_filing(
    conn: &mut PgConnection,
    filing_id: Uuid,
) -> Result<Vec<Event>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, kind, detail FROM (
             SELECT id, at, kind, detail FROM events WHERE filing_id = $1
             UNION ALL
             SELECT NULL, deadline, 'state_changed',
                    jsonb_build_object('state', state, 'reason', return_reason)
             FROM filings WHERE id = $1 AND return_reason = 'verification_expired') timeline
         ORDER BY at, id NULLS LAST",
    )
    .bind(filing_id)
    .fetch_all(conn)
    .await
}
