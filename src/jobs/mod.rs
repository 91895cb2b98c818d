//! The scheduler of timed work: SMS delivery when due, the return of filings
//! whose deadline passed, and the daily resend. Each job works in batches, each
//! batch one transaction under the job's advisory lock, so with several
//! instances one at a time does a batch, and a crash leaves no batch half done.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::clock::latest_daily;
use crate::flows::{Core, deliver, expire, noon, webhooks};
use crate::store::{Job, captchas, codes, filings, lock_job};

const SWEEP_BATCH: i64 = 5000;
/// The longest the scheduler sleeps without looking again (a filing or SMS
/// made by another instance does not wake this one).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Runs every job that is due now, to completion: the deadline first, so
/// that no filing past it gets a resend.
pub async fn run_due(core: &Core) -> Result<(), crate::flows::issue::IssueError> {
    return_expired(core).await?;
    noon::resend_due(core).await?;
    deliver::deliver_due(core).await?;
    let now = core.clock.now().await?;
    captchas::purge(&core.pool, now).await?;
    Ok(())
}

/// Returns every filing whose deadline has passed, in batches; returns how
/// many. The batches skip filings that requests hold; those are then waited
/// for one at a time, so that when this ends (and the clock hook answers)
/// nothing past its deadline still waits.
pub async fn return_expired(core: &Core) -> Result<u64, sqlx::Error> {
    return_expired_in_batches(core, SWEEP_BATCH).await
}

/// [`return_expired`], `batch` filings to a transaction (tests use small
/// batches). Walks from where the last complete sweep stopped, and records
/// how far it got only once nothing due is left, held filings included.
/// Should the clock go back meanwhile (a reset erased everything), it stops
/// and records nothing: what was due by its time is not due any more.
pub async fn return_expired_in_batches(core: &Core, batch: i64) -> Result<u64, sqlx::Error> {
    let now = core.clock.now().await?;
    let from = filings::swept_until(&mut *core.pool.acquire().await?).await?;
    let mut after = filings::sweep_start(from);
    let mut total = 0;
    let mut read = 0;
    let mut held = Vec::new();
    loop {
        let mut tx = core.pool.begin().await?;
        lock_job(&mut tx, Job::Sweep).await?;
        if core.clock.now_on(&mut tx).await? < now {
            return Ok(total);
        }
        let swept = filings::return_expired(&mut tx, now, after, batch).await?;
        tx.commit().await?;
        total += swept.returned.len() as u64;
        read += swept.read;
        held.extend(swept.held);
        after = swept.last.or(after);
        if (swept.read as i64) < batch {
            break;
        }
    }
    for id in held {
        if expire::if_due(core, id).await? {
            total += 1;
        }
    }
    if read > 0 {
        let mut tx = core.pool.begin().await?;
        lock_job(&mut tx, Job::Sweep).await?;
        if core.clock.now_on(&mut tx).await? >= now {
            filings::finish_sweep(&mut tx, from, now).await?;
        }
        tx.commit().await?;
    }
    Ok(total)
}

/// When something next falls due, if anything is scheduled.
async fn next_due(core: &Core) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    let sms = codes::next_due(&mut conn).await?;
    let deadline = filings::next_deadline(&mut conn).await?;
    let now = core.clock.now().await?;
    let next_resend = latest_daily(now, core.settings.resend_time) + chrono::Duration::days(1);
    Ok(sms.into_iter().chain(deadline).chain([next_resend]).min())
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
        // A returned filing may have queued a webhook event.
        core.outbox.notify_waiters();
        let sleep = sleep_until(&core, next_due(&core).await).await;
        if pause(sleep, woken, &mut stop).await {
            return;
        }
    }
}

/// Waits until `sleep` has passed, `woken` fires or `stop` changes; whether
/// to stop.
async fn pause(
    sleep: Duration,
    woken: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(sleep) => {}
        _ = woken => {}
        _ = stop.changed() => {}
    }
    *stop.borrow()
}

/// How long to sleep before `due`: at most [`MAX_SLEEP`], and that long under
/// the virtual clock, which moves only when a hook wakes the jobs.
async fn sleep_until(core: &Core, due: Result<Option<DateTime<Utc>>, sqlx::Error>) -> Duration {
    match (due, core.clock.now().await) {
        (Ok(Some(due)), Ok(now)) if !core.clock.is_virtual() => (due - now)
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(MAX_SLEEP),
        _ => MAX_SLEEP,
    }
}

/// Sends webhook events until `stop` turns true: whatever is due, then a
/// sleep until the next retry is due or an event is queued.
pub async fn send_webhooks(core: Core, mut stop: watch::Receiver<bool>) {
    let client = reqwest::Client::new();
    loop {
        let woken = core.outbox.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let sleep = match webhooks::deliver_due(&core, &client).await {
            Ok(tried) if tried > 0 => continue,
            Ok(_) => sleep_until(&core, next_webhook(&core).await).await,
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery failed; it will run again");
                MAX_SLEEP
            }
        };
        if pause(sleep, woken, &mut stop).await {
            return;
        }
    }
}

async fn next_webhook(core: &Core) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    crate::store::webhooks::next_due(&mut conn).await
}

/// Wakes this instance's jobs when another instance announces a change.
/// Reconnects after a lost connection; ends when `stop` turns true.
pub async fn listen(core: Core, mut stop: watch::Receiver<bool>) {
    loop {
        let listened = async {
            let mut listener = sqlx::postgres::PgListener::connect_with(&core.pool).await?;
            listener
                .listen_all([crate::flows::WAKE_CHANNEL, crate::flows::DELIVERED_CHANNEL])
                .await?;
            loop {
                let notification = listener.recv().await?;
                if notification.channel() == crate::flows::DELIVERED_CHANNEL {
                    core.delivered.notify_waiters();
                } else {
                    core.wake.notify_waiters();
                    core.outbox.notify_waiters();
                }
            }
        };
        tokio::select! {
            result = listened => {
                let result: Result<(), sqlx::Error> = result;
                if let Err(e) = result {
                    tracing::warn!(error = %e, "lost the wake-up channel; listening again shortly");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            _ = stop.changed() => return,
        }
    }
}
