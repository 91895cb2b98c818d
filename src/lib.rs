//! beian-sms: an emulator of a province's ICP filing SMS verification portal.
//!
//! Requests (`web`) and timers (`jobs`) both enter through `flows`, where each
//! use case is one transaction; `store` holds the SQL and `domain` the pure
//! rules, which know nothing of HTTP or the database.

pub mod captcha;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod embedded_pg;
pub mod flows;
pub mod jobs;
pub mod store;
pub mod web;

pub use web::{AppState, router, serve};

// The page catalogue, `locales/app.yml`, built into the binary.
rust_i18n::i18n!("locales");
