//! The portal forms' CSRF token: an HMAC of the form's captcha id under a key
//! the service keeps in PostgreSQL. It needs no cookie, so a test client that
//! sends the form's hidden fields back as they came passes, on any instance,
//! while another site, which cannot read the form, cannot make one.

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;
use sqlx::PgPool;

pub async fn load_key(pool: &PgPool) -> Result<Vec<u8>, sqlx::Error> {
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    sqlx::query(
        "INSERT INTO service_keys (name, value) VALUES ('csrf', $1) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&fresh[..])
    .execute(pool)
    .await?;
    sqlx::query_scalar("SELECT value FROM service_keys WHERE name = 'csrf'")
        .fetch_one(pool)
        .await
}

fn mac(key: &[u8], captcha_id: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(b"portal-form:");
    mac.update(captcha_id.as_bytes());
    mac
}

pub fn token(key: &[u8], captcha_id: &str) -> String {
    hex::encode(mac(key, captcha_id).finalize().into_bytes())
}

/// Compares in constant time.
pub fn is_valid(key: &[u8], captcha_id: &str, token: &str) -> bool {
    hex::decode(token).is_ok_and(|bytes| mac(key, captcha_id).verify_slice(&bytes).is_ok())
}
