//! SQL, grouped by table family. Functions take a connection so that a flow
//! can run several of them in one transaction.

pub mod captchas;
pub mod codes;
pub mod events;
pub mod filings;
pub mod handsets;
pub mod isps;
pub mod noon;
pub mod throttle;
pub mod webhooks;

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
