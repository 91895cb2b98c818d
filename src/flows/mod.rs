//! Each use case as one transaction. HTML forms, their JSON twins and the
//! background jobs all call these, so a rule has exactly one implementation.

pub mod captcha;
pub mod deliver;
pub mod expire;
pub mod handset;
pub mod isp;
pub mod issue;
pub mod noon;
pub mod operators;
pub mod resend;
pub mod review;
pub mod submit;
pub mod verify;
pub mod view;
pub mod webhooks;

use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::config::Settings;

/// The PostgreSQL channel on which instances wake each other's jobs.
pub const WAKE_CHANNEL: &str = "beian_wake";
/// The channel on which instances tell each other that SMS reached handsets.
pub const DELIVERED_CHANNEL: &str = "beian_delivered";

/// What every flow works with.
#[derive(Clone)]
pub struct Core {
    pub pool: PgPool,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// Codes and captcha texts come from here; seeded with `--seed` so runs repeat.
    pub rng: Arc<Mutex<StdRng>>,
    /// Wakes the background jobs when something they wait for may have changed.
    pub wake: Arc<Notify>,
    /// Wakes the webhook sender when events may be waiting.
    pub outbox: Arc<Notify>,
    /// Wakes the readers waiting for an SMS when some reached their handsets.
    pub delivered: Arc<Notify>,
}

impl Core {
    pub fn new(pool: PgPool, clock: Clock, settings: Settings) -> Core {
        let rng = match settings.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Core {
            pool,
            clock,
            settings: Arc::new(settings),
            rng: Arc::new(Mutex::new(rng)),
            wake: Arc::new(Notify::new()),
            outbox: Arc::new(Notify::new()),
            delivered: Arc::new(Notify::new()),
        }
    }

    /// Runs `f` with the shared generator. Never held across an await.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut rng)
    }

    /// This core on connections of its own ([`crate::db::jobs_pool`]), for
    /// the background jobs: requests never wait for a connection a job holds,
    /// nor a job for theirs, and a job's batches run one after another on one
    /// PostgreSQL backend, its statements prepared and planned once there
    /// instead of on each of the requests' connections in turn (see the
    /// README's Benchmarks for what that changed).
    pub fn for_jobs(&self) -> Core {
        Core {
            pool: crate::db::jobs_pool(&self.pool),
            ..self.clone()
        }
    }

    /// Tells the background jobs of every instance that something they wait
    /// for may have changed (a new SMS, a moved clock).
    pub async fn announce(&self) {
        self.wake.notify_waiters();
        self.outbox.notify_waiters();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(WAKE_CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not notify the other instances");
        }
    }

    /// Tells the readers waiting for an SMS, on every instance, that some
    /// reached their handsets.
    pub async fn announce_delivery(&self) {
        self.delivered.notify_waiters();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(DELIVERED_CHANNEL)
            .execute(&self.pool)
            .await
        {
            tracing::warn!(error = %e, "could not notify the other instances");
        }
    }

    /// Starts the generator again from the seed (after a reset), or from the OS.
    pub fn reseed(&self) {
        let fresh = match self.settings.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        *self
            .rng
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
    }
}

/// One field that could not be accepted, named by its path in the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}
