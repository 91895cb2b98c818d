//! Registering an ISP.

use rand::RngCore;
use uuid::Uuid;

use super::Core;
use crate::store::isps;

pub struct NewIsp {
    pub id: Uuid,
    /// Shown once; only its hash is kept.
    pub api_key: String,
    pub webhook_secret: Option<String>,
}

pub async fn create(
    core: &Core,
    name: &str,
    webhook_url: Option<&str>,
) -> Result<NewIsp, sqlx::Error> {
    let api_key = random_token("bsk_");
    let webhook_secret = webhook_url.map(|_| random_token("whsec_"));
    let now = core.clock.now().await?;
    let mut conn = core.pool.acquire().await?;
    let id = isps::create(
        &mut conn,
        name,
        &api_key,
        webhook_url,
        webhook_secret.as_deref(),
        now,
    )
    .await?;
    Ok(NewIsp {
        id,
        api_key,
        webhook_secret,
    })
}

/// A readable prefix and 128 bits from the OS generator (never the seeded
/// one: keys must not repeat from run to run).
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}
