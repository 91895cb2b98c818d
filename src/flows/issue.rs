//! Issuing codes: the one place a code is drawn and its SMS written, for one
//! mobile (a filing, a manual resend) or many (the noon resend), in a few
//! set-based statements.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

use super::Core;
use crate::clock::china_display;
use crate::domain::carrier::carrier_of;
use crate::domain::input::{Mobile, SmsCode};
use crate::domain::province::Province;
use crate::store::codes::{self, CodeReason, NewSms};
use crate::store::events;

/// How many rounds of draws before giving up on finding free values. With a
/// million possible codes this only fails when the emulator holds close to a
/// million live codes.
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

/// Replaces each target's live code with a new one and writes its SMS, due at
/// `due_at`, with an event on each filing's timeline. Runs inside the
/// caller's transaction, which holds the filings' locks.
pub async fn issue_codes(
    core: &Core,
    conn: &mut PgConnection,
    targets: &[CodeFor<'_>],
    reason: CodeReason,
    now: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> Result<(), IssueError> {
    if targets.is_empty() {
        return Ok(());
    }
    let all: Vec<Uuid> = targets.iter().map(|t| t.verification_id).collect();
    let filing_of: HashMap<Uuid, Uuid> = targets
        .iter()
        .map(|t| (t.verification_id, t.filing_id))
        .collect();
    codes::replace_live(conn, &all, now).await?;

    // Draw for every target still without a code until all have one.
    let mut issued: HashMap<Uuid, (Uuid, SmsCode)> = HashMap::with_capacity(targets.len());
    for _ in 0..MAX_DRAWS {
        let waiting: Vec<Uuid> = all
            .iter()
            .copied()
            .filter(|id| !issued.contains_key(id))
            .collect();
        if waiting.is_empty() {
            break;
        }
        let drawn: Vec<SmsCode> =
            core.with_rng(|rng| waiting.iter().map(|_| SmsCode::generate(rng)).collect());
        let values: Vec<&str> = drawn.iter().map(SmsCode::as_str).collect();
        let filings: Vec<Uuid> = waiting.iter().map(|id| filing_of[id]).collect();
        let inserted = codes::insert_live(conn, &waiting, &filings, &values, reason, now).await?;
        let by_verification: HashMap<Uuid, SmsCode> = waiting.into_iter().zip(drawn).collect();
        for (verification_id, code_id) in inserted {
            issued.insert(
                verification_id,
                (code_id, by_verification[&verification_id].clone()),
            );
        }
    }
    if issued.len() < targets.len() {
        return Err(IssueError::Exhausted);
    }

    let mut sms = NewSms::default();
    for target in targets {
        let (code_id, code) = &issued[&target.verification_id];
        let carrier = carrier_of(target.mobile);
        sms.code_ids.push(*code_id);
        sms.filing_ids.push(target.filing_id);
        sms.mobiles.push(target.mobile.as_str().to_string());
        sms.carriers.push(carrier.map(|c| c.as_str()));
        sms.senders.push(carrier.map(|c| c.sender()));
        sms.bodies
            .push(sms_body(target.province, code, target.deadline));
    }
    let sms_ids = codes::insert_sms(conn, &sms, now, due_at).await?;

    let kinds: Vec<&str> = sms
        .carriers
        .iter()
        .map(|c| {
            if c.is_some() {
                "sms_scheduled"
            } else {
                "sms_undeliverable"
            }
        })
        .collect();
    let details: Vec<Value> = targets
        .iter()
        .zip(&sms_ids)
        .map(|(target, sms_id)| {
            json!({
                "sms_id": sms_id,
                "mobile": target.mobile.masked(),
                "reason": reason.as_str(),
                "due_at": due_at,
            })
        })
        .collect();
    events::record_many(conn, &sms.filing_ids, now, &kinds, &details).await?;
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
