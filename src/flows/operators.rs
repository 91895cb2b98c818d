//! Operators: accounts, passwords and sign-in sessions.
//!
//! Passwords are hashed with argon2id on the blocking pool, never on the async
//! workers. An unknown name costs the same hashing work as a wrong password,
//! so the answer and its timing tell nothing about which names exist.
//! Sessions follow the wall clock, not the emulated one: they belong to the
//! operator's browser, and moving a virtual clock must not sign anyone out.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Core, FieldError};
use crate::store::operators::{self, Session};

/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 12;
pub const MIN_PASSWORD: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    #[error("there is no operator named {0:?}")]
    Unknown(String),
    #[error("an operator named {0:?} exists already")]
    Taken(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

/// A name as operators type it: trimmed and lower case.
pub fn username(raw: &str) -> Result<String, FieldError> {
    let name = crate::domain::input::normalize(raw).to_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match valid {
        true => Ok(name),
        false => Err(FieldError::new(
            "username",
            "use 1 to 64 letters, digits, '.', '_' or '-'",
        )),
    }
}

fn salt() -> SaltString {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).expect("16 bytes make a valid salt")
}

async fn hash(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes(), &salt())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
    .map_err(|e| AccountError::Hashing(e.to_string()))
}

/// A hash of no one's password, checked when the name is unknown.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"no operator has this password", &salt())
            .expect("hashes")
            .to_string()
    })
}

async fn matches(stored: Option<String>, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy_hash().to_string());
        let right = PasswordHash::new(&stored).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        known && right
    })
    .await
    .unwrap_or(false)
}

fn password(raw: &str) -> Result<String, AccountError> {
    let password = raw.trim_end_matches(['\r', '\n']).to_string();
    if password.chars().count() < MIN_PASSWORD {
        let message = format!("must be at least {MIN_PASSWORD} characters");
        return Err(AccountError::Invalid(FieldError::new("password", message)));
    }
    Ok(password)
}

pub async fn add(core: &Core, name: &str, raw_password: &str) -> Result<(), AccountError> {
    let name = username(name).map_err(AccountError::Invalid)?;
    let hashed = hash(password(raw_password)?).await?;
    let now = core.clock.now().await?;
    let mut conn = core.pool.acquire().await?;
    match operators::add(&mut conn, &name, &hashed, now).await? {
        Some(_) => Ok(()),
        None => Err(AccountError::Taken(name)),
    }
}

pub async fn reset_password(
    core: &Core,
    name: &str,
    raw_password: &str,
) -> Result<(), AccountError> {
    let name = username(name).map_err(AccountError::Invalid)?;
    let hashed = hash(password(raw_password)?).await?;
    let mut conn = core.pool.acquire().await?;
    match operators::set_password(&mut conn, &name, &hashed).await? {
        true => Ok(()),
        false => Err(AccountError::Unknown(name)),
    }
}

pub async fn remove(core: &Core, name: &str) -> Result<(), AccountError> {
    let name = username(name).map_err(AccountError::Invalid)?;
    let mut conn = core.pool.acquire().await?;
    match operators::remove(&mut conn, &name).await? {
        true => Ok(()),
        false => Err(AccountError::Unknown(name)),
    }
}

/// A new session: the cookie's token, shown to the browser only.
pub struct SignedIn {
    pub token: String,
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 256 random bits from the OS generator, as hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Checks the name and password; `None` for any mistake, whichever it was.
pub async fn sign_in(
    core: &Core,
    name: &str,
    password: &str,
) -> Result<Option<SignedIn>, sqlx::Error> {
    let account = match username(name) {
        Ok(name) => {
            let mut conn = core.pool.acquire().await?;
            operators::by_name(&mut conn, &name).await?
        }
        Err(_) => None,
    };
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    if !matches(stored, password.to_string()).await {
        return Ok(None);
    }
    let account = account.expect("a matching password has an account");
    let token = random_hex();
    let now = Utc::now();
    let mut conn = core.pool.acquire().await?;
    let expires = now + chrono::Duration::hours(SESSION_HOURS);
    operators::open_session(
        &mut conn,
        &token_hash(&token),
        account.id,
        &random_hex(),
        now,
        expires,
    )
    .await?;
    Ok(Some(SignedIn { token }))
}

pub async fn session(core: &Core, token: &str) -> Result<Option<Session>, sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    operators::session(&mut conn, &token_hash(token), Utc::now()).await
}

pub async fn sign_out(core: &Core, token: &str) -> Result<(), sqlx::Error> {
    let mut conn = core.pool.acquire().await?;
    operators::close_session(&mut conn, &token_hash(token)).await
}
