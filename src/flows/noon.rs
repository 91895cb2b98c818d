//! The daily resend: at the resend time (12:00 China time by default) every
//! mobile still unverified in a filing submitted before that day gets a new
//! code. After a gap (a server down at noon, a clock moved days at once) only
//! the latest missed resend runs, once.

use serde_json::{Value, json};

use super::Core;
use super::issue::{CodeFor, IssueError, issue_codes};
use crate::clock::{china_date, china_midnight, latest_daily};
use crate::domain::input::Mobile;
use crate::domain::province;
use crate::store::codes::CodeReason;
use crate::store::{Job, events, filings, lock_job, noon};

/// Filings whose mobiles one transaction resends to. Their locks are held
/// until it commits, so a verify request for one of them may wait that long.
const BATCH: i64 = 250;

/// Sends the latest due daily resend to every mobile that has not had it;
/// returns how many codes it sent.
pub async fn resend_due(core: &Core) -> Result<u64, IssueError> {
    resend_due_in_batches(core, BATCH).await
}

/// [`resend_due`], the mobiles of `batch` filings to a transaction (tests
/// use small batches).
pub async fn resend_due_in_batches(core: &Core, batch: i64) -> Result<u64, IssueError> {
    let mut run: Option<chrono::NaiveDate> = None;
    let mut sent = 0;
    let mut after = None;
    loop {
        let mut tx = core.pool.begin().await?;
        lock_job(&mut tx, Job::NoonResend).await?;
        // The time, and so the day, is read under the lock: a reset or another
        // instance may have changed everything while this run waited. Each
        // batch happens at the time it reads, and a virtual clock waits for
        // the batch to commit before it moves on: an SMS that falls due
        // meanwhile and is delivered was sent while its code was live, and
        // one replaced by the batch is cancelled before it falls due. Should
        // the day change between batches (a reset, a clock moved a day on),
        // this run stops and the next one starts afresh.
        let now = core.clock.now_held(&mut tx).await?;
        let day_locked = china_date(latest_daily(now, core.settings.resend_time));
        let day = *run.get_or_insert(day_locked);
        if day_locked != day || noon::day_done(&mut tx, day).await? {
            return Ok(sent);
        }
        let day_starts = china_midnight(day);
        let walked = noon::waiting_filings(&mut tx, day_starts, now, after, batch).await?;
        let Some(&last) = walked.last() else {
            noon::finish_day(&mut tx, day, now).await?;
            tx.commit().await?;
            return Ok(sent);
        };
        after = Some(last);
        let walked: Vec<_> = walked.into_iter().map(|(_, id)| id).collect();
        filings::lock_many(&mut tx, &walked).await?;
        let due = noon::claim(&mut tx, &walked, day, day_starts, now).await?;
        let mobiles: Vec<Option<Mobile>> =
            due.iter().map(|d| Mobile::parse(&d.mobile).ok()).collect();
        let targets: Vec<CodeFor> = due
            .iter()
            .zip(&mobiles)
            .filter_map(|(d, mobile)| {
                Some(CodeFor {
                    filing_id: d.filing_id,
                    verification_id: d.verification_id,
                    mobile: mobile.as_ref()?,
                    province: province::find(&d.province)?,
                    deadline: d.deadline,
                })
            })
            .collect();
        let filing_ids: Vec<_> = targets.iter().map(|t| t.filing_id).collect();
        let kinds = vec!["noon_resend"; targets.len()];
        let details: Vec<Value> = targets
            .iter()
            .map(|t| json!({ "mobile": t.mobile.masked(), "china_day": day }))
            .collect();
        events::record_many(&mut tx, &filing_ids, now, &kinds, &details).await?;
        issue_codes(core, &mut tx, &targets, CodeReason::NoonResend, now, now).await?;
        sent += targets.len() as u64;
        if (walked.len() as i64) < batch {
            noon::finish_day(&mut tx, day, now).await?;
            tx.commit().await?;
            return Ok(sent);
        }
        tx.commit().await?;
    }
}
