//! The service's tests over real HTTP against a real PostgreSQL.

mod cli;
mod helpers;
mod portal;
mod resend;
mod schedule;
mod submit;
mod verify;
mod webhooks;
