//! Operators approve or reject filings that passed verification.

use chrono::Datelike;
use uuid::Uuid;

use super::{Core, FieldError};
use crate::clock::china_date;
use crate::domain::input::text_field;
use crate::domain::province;
use crate::store::filings;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("the filing is not awaiting review")]
    NotAwaitingReview,
    #[error("{}", .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Approves the filing with the next ICP number of its province and year
/// (China date), and returns the number.
pub async fn approve(core: &Core, filing_id: Uuid, operator: &str) -> Result<String, ReviewError> {
    let now = core.clock.now().await?;
    let year = china_date(now).year();
    let mut tx = core.pool.begin().await?;
    let province = filings::get(&mut tx, filing_id)
        .await?
        .and_then(|f| province::find(&f.province))
        .ok_or(ReviewError::NotAwaitingReview)?;
    let number = filings::approve(
        &mut tx,
        filing_id,
        |serial| province.icp_number(year, serial as u32),
        year,
        operator,
        now,
    )
    .await?
    .ok_or(ReviewError::NotAwaitingReview)?;
    tx.commit().await?;
    core.announce().await;
    Ok(number)
}

pub async fn reject(
    core: &Core,
    filing_id: Uuid,
    reason: &str,
    operator: &str,
) -> Result<(), ReviewError> {
    let reason = text_field(reason, 500)
        .map_err(|e| ReviewError::Invalid(FieldError::new("reason", e.message())))?;
    let now = core.clock.now().await?;
    let mut tx = core.pool.begin().await?;
    if !filings::reject(&mut tx, filing_id, &reason, operator, now).await? {
        return Err(ReviewError::NotAwaitingReview);
    }
    tx.commit().await?;
    core.announce().await;
    Ok(())
}
