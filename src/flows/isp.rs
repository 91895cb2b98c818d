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

/// Checks a receiver's URL, sent in `field`: plain `http://` (the emulator
/// runs beside the systems it tests and speaks no TLS to them). A missing or
/// blank value means no receiver.
pub fn webhook_url(field: &str, raw: Option<&str>) -> Result<Option<String>, super::FieldError> {
    let Some(url) = raw.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let host = url.strip_prefix("http://").unwrap_or("");
    if host.is_empty()
        || host.starts_with('/')
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(super::FieldError::new(
            field,
            "must be an http:// URL such as http://127.0.0.1:9000/hooks",
        ));
    }
    Ok(Some(url.to_string()))
}

/// Sets the ISP's receiver, keeping its secret or making one; `None` when
/// the receiver is removed.
pub async fn set_webhook(
    core: &Core,
    isp_id: Uuid,
    url: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    let fresh = random_token("whsec_");
    let mut conn = core.pool.acquire().await?;
    isps::set_webhook(&mut conn, isp_id, url, &fresh).await
}

/// A readable prefix and 128 bits from the OS generator (never the seeded
/// one: keys must not repeat from run to run).
fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}
