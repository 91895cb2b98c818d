//! SQL, grouped by table family. Functions take a connection so that a flow
//! can run several of them in one transaction.

pub mod captchas;
pub mod codes;
pub mod events;
pub mod filings;
pub mod handsets;
pub mod isps;
pub mod noon;
pub mod operators;
pub mod sms;
pub mod throttle;
pub mod webhooks;

/// A new key for a filing, a verification, a code or an SMS: time-ordered
/// (UUIDv7), so that rows made together sit together in their indexes and the
/// jobs, which go through them in roughly the order they were made, touch few
/// index pages rather than one per row.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Background jobs, each with its own advisory lock so that one instance at
/// a time runs a batch of it.
#[derive(Debug, Clone, Copy)]
pub enum Job {
    Deliver = 1,
    Sweep = 2,
    NoonResend = 3,
}

/// Takes the job's lock until the transaction ends, waiting for another
/// instance's batch to finish; the caller then sees what that batch did.
///
/// The batch's commit does not wait for the disk: every job is idempotent,
/// so a batch lost in a crash is simply done again by the next run.
pub async fn lock_job(conn: &mut sqlx::PgConnection, job: Job) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(7420, $1), set_config('synchronous_commit', 'off', true)",
    )
    .bind(job as i32)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the job's lock in shared mode until the transaction ends: any number
/// of holders at once, but none while a batch of the job runs.
pub async fn share_job(conn: &mut sqlx::PgConnection, job: Job) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared(7420, $1)")
        .bind(job as i32)
        .execute(conn)
        .await?;
    Ok(())
}

/// Erases every row of data (not the service's keys), for the reset hook.
/// Takes every job's lock first, so no batch is half way through; a request
/// running at the same moment can still deadlock with it, and then the erase
/// is tried again.
pub async fn erase_all(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut tries = 0;
    loop {
        let mut tx = pool.begin().await?;
        for job in [Job::Deliver, Job::Sweep, Job::NoonResend] {
            lock_job(&mut tx, job).await?;
        }
        let erased = sqlx::query(
            "TRUNCATE isps, filings, deadline_sweep, verifications, codes, sms, events, handsets, captchas,
                      resend_quota, verify_throttle, ip_throttle, virtual_clock, noon_resends, noon_days,
                      webhook_deliveries, webhook_attempts
             RESTART IDENTITY",
        )
        .execute(&mut *tx)
        .await;
        match erased {
            Ok(_) => return tx.commit().await,
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40P01") && tries < 5 => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
