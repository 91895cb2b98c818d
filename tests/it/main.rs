//! The service's tests over real HTTP against a real PostgreSQL.

mod browser;
mod cli;
mod helpers;
mod hooks;
mod openapi;
mod ops;
mod portal;
mod resend;
mod schedule;
mod submit;
mod verify;
mod webhooks;
