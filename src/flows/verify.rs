//! A filer types certificate tail, mobile, code and captcha on the portal.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgConnection;

use super::{Core, FieldError, captcha};
use crate::domain::input::{CertificateTail, Mobile, SmsCode};
use crate::domain::province::Province;
use crate::store::{codes, events, filings, throttle};

/// The fields of the verify form, as typed.
#[derive(Debug, Default, Clone, serde::Deserialize, utoipa::ToSchema)]
pub struct VerifyInput {
    pub certificate_last6: Option<String>,
    pub mobile: Option<String>,
    pub code: Option<String>,
    pub captcha_id: Option<String>,
    pub captcha_answer: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum VerifyOutcome {
    /// The mobile is verified; `pending_mobiles` (masked) of the same filing still wait.
    Verified {
        filing_state: String,
        pending_mobiles: Vec<String>,
    },
    /// Nothing matches; the page never says which field was wrong.
    NotFound,
    /// The filing went back to its ISP (`verification_expired` or
    /// `certificate_attempts_exceeded`).
    FailedReturned {
        reason: String,
    },
    CaptchaInvalid,
    InvalidInput {
        errors: Vec<FieldError>,
    },
    RateLimited,
}

impl VerifyOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            VerifyOutcome::Verified { .. } => "verified",
            VerifyOutcome::NotFound => "not_found",
            VerifyOutcome::FailedReturned { .. } => "failed_returned",
            VerifyOutcome::CaptchaInvalid => "captcha_invalid",
            VerifyOutcome::InvalidInput { .. } => "invalid_input",
            VerifyOutcome::RateLimited => "rate_limited",
        }
    }
}

struct Typed {
    tail: CertificateTail,
    mobile: Mobile,
    code: SmsCode,
}

fn parse(input: &VerifyInput) -> Result<Typed, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut field = |name: &str, e: crate::domain::input::InputError| {
        errors.push(FieldError::new(name, e.message()));
    };
    let tail = CertificateTail::parse(input.certificate_last6.as_deref().unwrap_or(""))
        .map_err(|e| field("certificate_last6", e))
        .ok();
    let mobile = Mobile::parse(input.mobile.as_deref().unwrap_or(""))
        .map_err(|e| field("mobile", e))
        .ok();
    let code = SmsCode::parse(input.code.as_deref().unwrap_or(""))
        .map_err(|e| field("code", e))
        .ok();
    match (tail, mobile, code) {
        (Some(tail), Some(mobile), Some(code)) => Ok(Typed { tail, mobile, code }),
        _ => Err(errors),
    }
}

/// Checks the form in one transaction, so that a request waits for a single
/// commit: the captcha is spent and the attempt counted whatever the answer.
pub async fn verify(
    core: &Core,
    province: &'static Province,
    input: &VerifyInput,
) -> Result<VerifyOutcome, sqlx::Error> {
    let mut tx = core.pool.begin().await?;
    let outcome = attempt(core, &mut tx, province, input).await?;
    tx.commit().await?;
    if matches!(outcome, VerifyOutcome::FailedReturned { .. })
        || matches!(&outcome, VerifyOutcome::Verified { pending_mobiles, .. } if pending_mobiles.is_empty())
    {
        // The filing changed state: a webhook event may be queued.
        core.announce().await;
    }
    Ok(outcome)
}

async fn attempt(
    core: &Core,
    tx: &mut PgConnection,
    province: &'static Province,
    input: &VerifyInput,
) -> Result<VerifyOutcome, sqlx::Error> {
    let now = core.clock.now_on(tx).await?;
    let (id, answer) = (input.captcha_id.as_deref(), input.captcha_answer.as_deref());
    if !captcha::check(tx, id, answer, now).await? {
        return Ok(VerifyOutcome::CaptchaInvalid);
    }
    let typed = match parse(input) {
        Ok(typed) => typed,
        Err(errors) => return Ok(VerifyOutcome::InvalidInput { errors }),
    };
    let settings = &core.settings;
    let allowed = throttle::verify_attempt(
        tx,
        typed.mobile.as_str(),
        now,
        settings.verify_window.num_seconds(),
        settings.verify_attempts,
    )
    .await?;
    if !allowed {
        return Ok(VerifyOutcome::RateLimited);
    }

    let found = filings::match_code(
        tx,
        province.code,
        typed.mobile.as_str(),
        typed.code.as_str(),
    )
    .await?;
    let Some(found) = found else {
        return Ok(VerifyOutcome::NotFound);
    };
    let filing = filings::lock(tx, found.filing_id).await?;
    let certificate_matches = found.certificate_tail == typed.tail.as_str();
    let masked = typed.mobile.masked();

    let outcome = if filing.state == filings::AWAITING_VERIFICATION && filing.deadline <= now {
        // The sweep has not come by yet; the deadline holds all the same.
        let attempt = late_attempt(&masked, "after_deadline", certificate_matches);
        events::record(tx, found.filing_id, now, "verify_attempt", attempt).await?;
        let reason = "verification_expired";
        filings::return_to_isp(tx, found.filing_id, reason, now).await?;
        returned_or_not_found(certificate_matches, reason)
    } else if filing.state == filings::RETURNED {
        let attempt = late_attempt(&masked, "after_return", certificate_matches);
        events::record(tx, found.filing_id, now, "verify_attempt", attempt).await?;
        let reason = filing
            .return_reason
            .as_deref()
            .unwrap_or("verification_expired");
        returned_or_not_found(certificate_matches, reason)
    } else if filing.state != filings::AWAITING_VERIFICATION {
        // Not met in practice: a live code's filing awaits verification, a
        // return is handled above, and verifies of one mobile take turns on
        // its throttle row, so none can complete the filing meanwhile.
        VerifyOutcome::NotFound
    } else if !codes::is_live(tx, found.code_id).await? {
        // A resend replaced it while this attempt waited for the filing: too
        // late to count, a wrong certificate included.
        let attempt = late_attempt(&masked, "code_no_longer_live", certificate_matches);
        events::record(tx, found.filing_id, now, "verify_attempt", attempt).await?;
        VerifyOutcome::NotFound
    } else if !certificate_matches {
        let failures = filings::count_certificate_failure(tx, found.verification_id).await?;
        let attempt =
            json!({ "mobile": masked, "outcome": "wrong_certificate", "failures": failures });
        events::record(tx, found.filing_id, now, "verify_attempt", attempt).await?;
        if failures >= settings.max_certificate_failures {
            let reason = "certificate_attempts_exceeded";
            filings::return_to_isp(tx, found.filing_id, reason, now).await?;
            VerifyOutcome::FailedReturned {
                reason: reason.into(),
            }
        } else {
            VerifyOutcome::NotFound
        }
    } else if filings::use_code(tx, found.code_id, found.verification_id, now).await? {
        let attempt = json!({ "mobile": masked, "outcome": "verified" });
        events::record(tx, found.filing_id, now, "verify_attempt", attempt).await?;
        filings::to_review_if_verified(tx, found.filing_id, now).await?;
        let pending_mobiles = filings::pending_mobiles(tx, found.filing_id).await?;
        let filing_state = match pending_mobiles.is_empty() {
            true => filings::AWAITING_REVIEW,
            false => filings::AWAITING_VERIFICATION,
        };
        VerifyOutcome::Verified {
            filing_state: filing_state.into(),
            pending_mobiles,
        }
    } else {
        // Not met: the code was live under the filing's lock just above.
        VerifyOutcome::NotFound
    };
    Ok(outcome)
}

/// The timeline entry of an attempt too late to count (after the deadline,
/// after the filing was returned, after its code stopped being live): every
/// attempt that reaches a filing is on its timeline.
fn late_attempt(masked_mobile: &str, outcome: &str, certificate_matched: bool) -> Value {
    json!({ "mobile": masked_mobile, "outcome": outcome, "certificate_matched": certificate_matched })
}

/// Only someone who typed the whole record right learns that it was returned.
fn returned_or_not_found(certificate_matches: bool, reason: &str) -> VerifyOutcome {
    if certificate_matches {
        VerifyOutcome::FailedReturned {
            reason: reason.into(),
        }
    } else {
        VerifyOutcome::NotFound
    }
}
