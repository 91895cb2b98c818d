//! The daily resend: at the resend time (12:00 China time by default) every
//! mobile still unverified in a filing submitted before that day gets a new
//! code. After a gap (a server down at noon, a clock moved days at once) only
//! the latest missed resend runs, once.

use serde_json::json;

use super::Core;
use super::issue::{CodeFor, IssueError, issue_code};
use crate::clock::{china_date, china_midnight, latest_daily};
use crate::domain::input::Mobile;
use crate::domain::province;
use crate::store::codes::CodeReason;
use crate::store::{Job, events, lock_job, noon};

const BATCH: i64 = 500;

/// Sends the latest due daily resend to every mobile that has not had it;
/// returns how many codes it sent.
pub async fn resend_due(core: &Core) -> Result<u64, IssueError> {
    let now = core.clock.now().await?;
    let moment = latest_daily(now, core.settings.resend_time);
    let day = china_date(moment);
    let day_starts = china_midnight(day);
    let mut sent = 0;
    loop {
        let mut tx = core.pool.begin().await?;
        lock_job(&mut tx, Job::NoonResend).await?;
        let due = noon::due(&mut tx, day, day_starts, now, BATCH).await?;
        for mobile in &due {
            if !noon::claim(&mut tx, mobile.verification_id, day).await? {
                continue;
            }
            let (Ok(parsed), Some(province)) = (
                Mobile::parse(&mobile.mobile),
                province::find(&mobile.province),
            ) else {
                continue;
            };
            let detail = json!({ "mobile": parsed.masked(), "china_day": day });
            events::record(&mut tx, mobile.filing_id, now, "noon_resend", detail).await?;
            let target = CodeFor {
                filing_id: mobile.filing_id,
                verification_id: mobile.verification_id,
                mobile: &parsed,
                province,
                deadline: mobile.deadline,
            };
            issue_code(core, &mut tx, target, CodeReason::NoonResend, now, now).await?;
            sent += 1;
        }
        tx.commit().await?;
        if (due.len() as i64) < BATCH {
            return Ok(sent);
        }
    }
}
