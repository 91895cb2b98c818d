//! The scheduler of timed work: SMS delivery when due and the return of
//! filings whose deadline passed. Each job is a set-based statement that
//! skips rows another instance holds, so several instances can run it at once
//! without doing anything twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::flows::{Core, deliver};
use crate::store::{captchas, codes, filings};

const SWEEP_BATCH: i64 = 1000;
/// The longest the scheduler sleeps without looking again (a filing or SMS
/// made by another instance does not wake this one).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Runs every job that is due now, to completion.
pub async fn run_due(core: &Core) -> Result<(), sqlx::Error> {
    deliver::deliver_due(core).await?;
    let now = core.clock.now().await?;
    loop {
        let mut tx = core.pool.begin().await?;
        let returned = filings::return_expired(&mut tx, now, SWEEP_BATCH).await?;
        tx.commit().await?;
        if returned < SWEEP_BATCH as u64 {
            break;
        }
    }
    captchas::purge(&core.pool, now).await?;
    Ok(())
}

/// When something next falls due, if anything is scheduled.
async fn next_due(core: &Core) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    let sms = codes::next_due(&mut conn).await?;
    let deadline = filings::next_deadline(&mut conn).await?;
    Ok(sms.into_iter().chain(deadline).min())
}

/// Runs the jobs until `stop` turns true, sleeping until the next due moment,
/// or until woken by a change (a new filing, a resend, a moved clock).
pub async fn run(core: Core, mut stop: watch::Receiver<bool>) {
    loop {
        let woken = core.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if let Err(e) = run_due(&core).await {
            tracing::warn!(error = %e, "a background job failed; it will run again");
        }
        let sleep = match (next_due(&core).await, core.clock.now().await) {
            (Ok(Some(due)), Ok(now)) if !core.clock.is_virtual() => (due - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = &mut woken => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}
