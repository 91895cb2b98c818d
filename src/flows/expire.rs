//! The deadline, enforced when a filing is read as well as by the sweep.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::Core;
use crate::store::filings;

/// Returns the filing to its ISP now if its deadline has passed and the sweep
/// has not come by yet, so that no reader sees it still awaiting verification.
/// Whether it returned the filing.
pub async fn if_due(core: &Core, filing_id: Uuid) -> Result<bool, sqlx::Error> {
    let now = core.clock.now().await?;
    let mut tx = core.pool.begin().await?;
    let due: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM filings
                        WHERE id = $1 AND state = 'awaiting_verification' AND deadline <= $2)",
    )
    .bind(filing_id)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    if !due {
        return Ok(false);
    }
    filings::lock(&mut tx, filing_id).await?;
    let returned = filings::return_to_isp(&mut tx, filing_id, "verification_expired", now).await?;
    tx.commit().await?;
    if returned {
        core.announce().await;
    }
    Ok(returned)
}

/// Applies the deadline to those of a listing's filings, (id, whether it
/// awaits verification, deadline), that are past it and not yet swept;
/// whether it returned any (the caller then reads its listing again).
pub async fn any_due(
    core: &Core,
    listed: &[(Uuid, bool, DateTime<Utc>)],
) -> Result<bool, sqlx::Error> {
    let now = core.clock.now().await?;
    let mut any = false;
    for &(id, awaiting, deadline) in listed {
        if awaiting && deadline <= now {
            if_due(core, id).await?;
            any = true;
        }
    }
    Ok(any)
}
