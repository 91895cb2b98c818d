//! SQL, grouped by table family. Functions take a connection so that a flow
//! can run several of them in one transaction.

pub mod captchas;
pub mod codes;
pub mod events;
pub mod filings;
pub mod handsets;
pub mod isps;
pub mod throttle;
