//! Issuing a code: the one place a code is drawn and its SMS written.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::Core;
use crate::clock::china_display;
use crate::domain::carrier::carrier_of;
use crate::domain::input::{Mobile, SmsCode};
use crate::domain::province::Province;
use crate::store::codes::{self, CodeReason, NewSms};
use crate::store::events;

/// How many draws before giving up on finding a value no live code has. With
/// a million possible codes this only fails when the emulator holds close to
/// a million live codes.
const MAX_DRAWS: usize = 64;

pub struct CodeFor<'a> {
    pub filing_id: Uuid,
    pub verification_id: Uuid,
    pub mobile: &'a Mobile,
    pub province: &'static Province,
    pub deadline: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("no free code value after {MAX_DRAWS} draws")]
    Exhausted,
}

/// Replaces the verification's live code with a new one and writes its SMS,
/// due at `due_at`. Runs inside the caller's transaction, which holds the
/// filing's lock.
pub async fn issue_code(
    core: &Core,
    conn: &mut PgConnection,
    target: CodeFor<'_>,
    reason: CodeReason,
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<(), IssueError> {
    codes::replace_live(conn, target.verification_id, now).await?;
    let mut issued = None;
    for _ in 0..MAX_DRAWS {
        let code = core.with_rng(SmsCode::generate);
        if let Some(id) =
            codes::insert_live(conn, target.verification_id, code.as_str(), reason, now).await?
        {
            issued = Some((id, code));
            break;
        }
    }
    let (code_id, code) = issued.ok_or(IssueError::Exhausted)?;

    let carrier = carrier_of(target.mobile);
    let body = sms_body(target.province, &code, target.deadline);
    let sms_id = codes::insert_sms(
        conn,
        NewSms {
            code_id,
            filing_id: target.filing_id,
            mobile: target.mobile.as_str(),
            carrier: carrier.map(|c| c.as_str()),
            sender: carrier.map(|c| c.sender()),
            body: &body,
            created_at: now,
            due_at,
        },
    )
    .await?;
    let kind = if carrier.is_some() {
        "sms_scheduled"
    } else {
        "sms_undeliverable"
    };
    events::record(
        conn,
        target.filing_id,
        now,
        kind,
        json!({
            "sms_id": sms_id,
            "mobile": target.mobile.masked(),
            "reason": reason.as_str(),
            "due_at": due_at,
        }),
    )
    .await?;
    Ok(())
}

/// The text of a verification SMS, in the voice of the province's administration.
fn sms_body(province: &Province, code: &SmsCode, deadline: DateTime<Utc>) -> String {
    format!(
        "【{name}通信管理局】您的网站备案短信核验码为{code}。请在{deadline}前登录{host}，\
         填写证件号码后六位、手机号码和本核验码完成核验，逾期未核验的备案将退回接入商。",
        name = province.name_zh,
        code = code.as_str(),
        deadline = china_display(deadline),
        host = province.host(),
    )
}
