//! Handing due SMS to the emulated handsets.

use super::Core;
use crate::store::{Job, codes, lock_job};

const BATCH: i64 = 1000;

/// Delivers every SMS due by now, in batches; returns how many moved.
pub async fn deliver_due(core: &Core) -> Result<u64, sqlx::Error> {
    let now = core.clock.now().await?;
    let mut total = 0;
    loop {
        let mut tx = core.pool.begin().await?;
        lock_job(&mut tx, Job::Deliver).await?;
        let moved = codes::deliver_due(&mut tx, now, BATCH).await?;
        tx.commit().await?;
        total += moved;
        if moved < BATCH as u64 {
            if total > 0 {
                core.announce_delivery().await;
            }
            return Ok(total);
        }
    }
}
