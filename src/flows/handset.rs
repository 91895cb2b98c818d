//! Changing an emulated handset's state.

use super::Core;
use crate::domain::input::Mobile;
use crate::store::codes;
use crate::store::handsets::{self, HandsetState};

/// Sets the handset's state; one that comes back online receives what was held.
pub async fn set_state(
    core: &Core,
    mobile: &Mobile,
    state: HandsetState,
) -> Result<(), sqlx::Error> {
    let now = core.clock.now().await?;
    let mut tx = core.pool.begin().await?;
    handsets::set_state(&mut tx, mobile.as_str(), state).await?;
    let released = match state {
        HandsetState::Online => codes::release_held(&mut tx, mobile.as_str(), now).await?,
        _ => 0,
    };
    tx.commit().await?;
    if released > 0 {
        core.announce_delivery().await;
    }
    Ok(())
}
