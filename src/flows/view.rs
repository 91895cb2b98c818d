//! The filing as the API shows it, and as webhooks carry it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::domain::input::Mobile;
use crate::store::events::{self, Event};
use crate::store::filings::{self, FilingRow, VerificationRow};

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerificationView {
    pub id: Uuid,
    /// Masked: `138****8000`.
    pub mobile: String,
    pub roles: Vec<String>,
    pub state: String,
    pub verified_at: Option<DateTime<Utc>>,
}

impl From<VerificationRow> for VerificationView {
    fn from(v: VerificationRow) -> Self {
        let masked = Mobile::parse(&v.mobile)
            .map(|m| m.masked())
            .unwrap_or_default();
        VerificationView {
            id: v.id,
            mobile: masked,
            roles: v.roles,
            state: v.state,
            verified_at: v.verified_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FilingView {
    pub id: Uuid,
    pub province: String,
    pub kind: String,
    pub isp_reference: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub return_reason: Option<String>,
    /// Once approved, such as `甘ICP备2026000001号`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icp_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    pub submitted_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// The subject as submitted, normalised.
    #[schema(value_type = Object)]
    pub subject: Value,
    /// The websites as submitted, normalised.
    #[schema(value_type = Vec<Object>)]
    pub websites: Value,
    pub verifications: Vec<VerificationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Event>>,
}

impl FilingView {
    pub fn new(
        row: FilingRow,
        verifications: Vec<VerificationRow>,
        events: Option<Vec<Event>>,
    ) -> Self {
        FilingView {
            id: row.id,
            province: row.province,
            kind: row.kind,
            isp_reference: row.isp_reference,
            state: row.state,
            return_reason: row.return_reason,
            icp_number: row.icp_number,
            reject_reason: row.reject_reason,
            submitted_at: row.submitted_at,
            deadline: row.deadline,
            subject: row.subject,
            websites: row.websites,
            verifications: verifications.into_iter().map(Into::into).collect(),
            events,
        }
    }
}

/// The filing with its verifications, and its timeline when asked for.
pub async fn filing(
    conn: &mut PgConnection,
    id: Uuid,
    with_events: bool,
) -> Result<Option<(Uuid, FilingView)>, sqlx::Error> {
    let Some(row) = filings::get(conn, id).await? else {
        return Ok(None);
    };
    let isp_id = row.isp_id;
    let verifications = filings::verifications_of(conn, &[id]).await?;
    let events = match with_events {
        true => Some(events::for_filing(conn, id).await?),
        false => None,
    };
    Ok(Some((isp_id, FilingView::new(row, verifications, events))))
}
