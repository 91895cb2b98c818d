//! The service's tests over real HTTP against a real PostgreSQL.

mod cli;
mod helpers;
mod hooks;
mod portal;
mod resend;
mod schedule;
mod submit;
mod verify;
mod webhooks;
