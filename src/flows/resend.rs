//! A filer asks for the SMS to be sent again.

use serde::Serialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::issue::{CodeFor, IssueError, issue_codes};
use super::{Core, FieldError, captcha};
use crate::clock::china_date;
use crate::domain::input::{CertificateTail, Mobile};
use crate::domain::province::Province;
use crate::store::codes::CodeReason;
use crate::store::{events, filings, throttle};

#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct ResendInput {
    pub mobile: Option<String>,
    pub certificate_last6: Option<String>,
    pub captcha_id: Option<String>,
    pub captcha_answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ResendOutcome {
    /// A new code is on its way to the handset, for each filing the mobile waits in.
    Sent {
        filings: usize,
    },
    NotFound,
    CaptchaInvalid,
    InvalidInput {
        errors: Vec<FieldError>,
    },
    RateLimited,
}

impl ResendOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            ResendOutcome::Sent { .. } => "sent",
            ResendOutcome::NotFound => "not_found",
            ResendOutcome::CaptchaInvalid => "captcha_invalid",
            ResendOutcome::InvalidInput { .. } => "invalid_input",
            ResendOutcome::RateLimited => "rate_limited",
        }
    }
}

/// Answers the form in one transaction, as a verify does: the captcha is spent
/// whatever the answer, and the request waits for a single commit.
pub async fn resend(
    core: &Core,
    province: &'static Province,
    input: &ResendInput,
) -> Result<ResendOutcome, IssueError> {
    let mut tx = core.pool.begin().await?;
    let outcome = request(core, &mut tx, province, input).await?;
    tx.commit().await?;
    if matches!(outcome, ResendOutcome::Sent { .. }) {
        core.announce().await;
    }
    Ok(outcome)
}

async fn request(
    core: &Core,
    tx: &mut PgConnection,
    province: &'static Province,
    input: &ResendInput,
) -> Result<ResendOutcome, IssueError> {
    let now = core.clock.now_on(tx).await?;
    let (id, answer) = (input.captcha_id.as_deref(), input.captcha_answer.as_deref());
    if !captcha::check(tx, id, answer, now).await? {
        return Ok(ResendOutcome::CaptchaInvalid);
    }
    let mut errors = Vec::new();
    let mobile = Mobile::parse(input.mobile.as_deref().unwrap_or(""))
        .map_err(|e| errors.push(FieldError::new("mobile", e.message())))
        .ok();
    let tail = CertificateTail::parse(input.certificate_last6.as_deref().unwrap_or(""))
        .map_err(|e| errors.push(FieldError::new("certificate_last6", e.message())))
        .ok();
    let (Some(mobile), Some(tail)) = (mobile, tail) else {
        return Ok(ResendOutcome::InvalidInput { errors });
    };

    let candidates: Vec<(Uuid, Uuid)> =
        filings::pending_for_mobile(tx, province.code, mobile.as_str())
            .await?
            .into_iter()
            .filter(|(_, _, certificate_tail)| certificate_tail == tail.as_str())
            .map(|(filing_id, verification_id, _)| (filing_id, verification_id))
            .collect();
    // Lock first, then look again: a verify or a return may have come in
    // between, and a mobile verified meanwhile gets no new code.
    let filing_ids: Vec<Uuid> = candidates.iter().map(|(f, _)| *f).collect();
    let locked = filings::lock_many(tx, &filing_ids).await?;
    let verification_ids: Vec<Uuid> = candidates.iter().map(|(_, v)| *v).collect();
    let waiting = filings::still_pending(tx, &verification_ids).await?;
    let mut targets = Vec::new();
    for (filing_id, filing) in locked {
        if filing.state != filings::AWAITING_VERIFICATION {
            continue;
        }
        if filing.deadline <= now {
            filings::return_to_isp(tx, filing_id, "verification_expired", now).await?;
            continue;
        }
        for (_, verification_id) in candidates
            .iter()
            .filter(|(f, v)| *f == filing_id && waiting.contains(v))
        {
            targets.push((filing_id, *verification_id, filing.deadline));
        }
    }
    if targets.is_empty() {
        return Ok(ResendOutcome::NotFound);
    }
    let settings = &core.settings;
    let allowed = throttle::take_resend(
        tx,
        mobile.as_str(),
        now,
        china_date(now),
        settings.resend_cooldown.num_seconds(),
        settings.resend_daily_cap,
    )
    .await?;
    if !allowed {
        return Ok(ResendOutcome::RateLimited);
    }
    let mut codes = Vec::with_capacity(targets.len());
    for &(filing_id, verification_id, deadline) in &targets {
        let detail = json!({ "mobile": mobile.masked() });
        events::record(tx, filing_id, now, "resend_requested", detail).await?;
        codes.push(CodeFor {
            filing_id,
            verification_id,
            mobile: &mobile,
            province,
            deadline,
        });
    }
    issue_codes(core, tx, &codes, CodeReason::ManualResend, now, now).await?;
    Ok(ResendOutcome::Sent {
        filings: targets.len(),
    })
}
