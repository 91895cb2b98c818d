//! Settings: the command line, each flag also read from its environment variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{Duration, NaiveTime};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domain::province;

#[derive(Debug, Parser)]
#[command(
    name = "beian-sms",
    version,
    about = "An emulator of an ICP filing SMS verification portal"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole service: portal pages, ISP API, background jobs.
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate(DatabaseArgs),
    /// Add, remove or reset the password of an operator of the /ops pages.
    Operator(OperatorArgs),
}

#[derive(Debug, Clone, Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    pub action: OperatorAction,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Subcommand)]
pub enum OperatorAction {
    /// Add an operator; the password is read from standard input.
    Add {
        name: String,
        /// Read the password from standard input (the only way: never from the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Give an operator a new password, read from standard input; signs them out everywhere.
    Reset {
        name: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Remove an operator.
    Remove { name: String },
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL to use; without it (or when empty), a private cluster is
    /// started under the data folder.
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where the private PostgreSQL cluster lives.
    #[arg(
        long,
        global = true,
        env = "BEIAN_DATA_DIR",
        default_value = "./.beian-sms"
    )]
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockKind {
    /// The machine's clock.
    System,
    /// A clock that stands still until a test hook moves it; shared through the database.
    Virtual,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[arg(long, env = "BEIAN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    #[arg(long, env = "BEIAN_CLOCK", value_enum, default_value = "system")]
    pub clock: ClockKind,
    /// Serve the /api/test hooks (only on a loopback address unless forced).
    #[arg(long, env = "BEIAN_TEST_HOOKS", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub test_hooks: bool,
    /// Allow the test hooks on a non-loopback address: anyone who reaches the
    /// port can then read every code.
    #[arg(long, env = "BEIAN_ALLOW_REMOTE_TEST_HOOKS", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub allow_remote_test_hooks: bool,
    /// Seed an ISP and a few filings, and print how to reach them.
    #[arg(long, env = "BEIAN_DEMO", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub demo: bool,
    /// Seconds between a filing's submission and its first SMS reaching the handset.
    #[arg(long, env = "BEIAN_SMS_DELAY", default_value_t = 300)]
    pub sms_delay: u32,
    /// Fix the random seed so codes and captchas repeat from run to run.
    #[arg(long, env = "BEIAN_SEED")]
    pub seed: Option<u64>,
    /// Portal and JSON-twin requests per minute per client address; 0 turns it off.
    #[arg(long, env = "BEIAN_IP_RATE_LIMIT", default_value_t = 120)]
    pub ip_rate_limit: u32,
    /// Provinces whose filings need SMS verification, comma separated.
    #[arg(
        long,
        env = "BEIAN_PILOTS",
        value_delimiter = ',',
        default_value = "gs,xz,nx,hn,xj,qh,tj"
    )]
    pub pilots: Vec<String>,
    /// Hours from submission to the verification deadline.
    #[arg(long, env = "BEIAN_VERIFICATION_HOURS", default_value_t = 48)]
    pub verification_hours: u32,
    /// Per-province deadlines, as `code=hours` pairs, comma separated (e.g. `tj=24`).
    #[arg(long, env = "BEIAN_PROVINCE_HOURS", value_delimiter = ',')]
    pub province_hours: Vec<String>,
    /// China time of the daily resend to every mobile still unverified.
    #[arg(long, env = "BEIAN_RESEND_TIME", default_value = "12:00", value_parser = parse_time)]
    pub resend_time: NaiveTime,
    /// Require verification for logout and cancel-access filings too.
    #[arg(long, env = "BEIAN_VERIFY_LOGOUTS", value_parser = clap::builder::BoolishValueParser::new(), default_value = "false", num_args = 0, default_missing_value = "true")]
    pub verify_logouts: bool,
}

/// The rules' tunable numbers, resolved from the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    pub pilots: Vec<&'static str>,
    pub verification_window: Duration,
    pub province_windows: HashMap<&'static str, Duration>,
    pub verify_logouts: bool,
    pub sms_delay: Duration,
    /// China wall-clock time of the daily resend.
    pub resend_time: NaiveTime,
    pub captcha_ttl: Duration,
    pub resend_cooldown: Duration,
    pub resend_daily_cap: i32,
    /// Verify attempts allowed per mobile within `verify_window`.
    pub verify_attempts: i32,
    pub verify_window: Duration,
    pub max_certificate_failures: i32,
    /// Requests per minute per client address on the portal and its JSON twins; 0 is off.
    pub ip_rate_limit: u32,
    pub test_hooks: bool,
    pub seed: Option<u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pilots: province::DEFAULT_PILOTS.to_vec(),
            verification_window: Duration::hours(48),
            province_windows: HashMap::new(),
            verify_logouts: false,
            sms_delay: Duration::seconds(300),
            resend_time: NaiveTime::from_hms_opt(12, 0, 0).expect("a valid time"),
            captcha_ttl: Duration::minutes(5),
            resend_cooldown: Duration::seconds(60),
            resend_daily_cap: 5,
            verify_attempts: 30,
            verify_window: Duration::hours(1),
            max_certificate_failures: 5,
            ip_rate_limit: 120,
            test_hooks: false,
            seed: None,
        }
    }
}

impl Settings {
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Settings> {
        let pilots = args
            .pilots
            .iter()
            .filter(|code| !code.trim().is_empty())
            .map(|code| {
                province::find(code.trim())
                    .map(|p| p.code)
                    .ok_or_else(|| anyhow::anyhow!("--pilots: unknown province code {code:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut province_windows = HashMap::new();
        for pair in args.province_hours.iter().filter(|p| !p.trim().is_empty()) {
            let (code, hours) = pair.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--province-hours: expected code=hours, got {pair:?}")
            })?;
            let province = province::find(code.trim())
                .ok_or_else(|| anyhow::anyhow!("--province-hours: unknown province {code:?}"))?;
            let hours: u32 = hours.trim().parse().map_err(|_| {
                anyhow::anyhow!("--province-hours: {hours:?} is not a whole number of hours")
            })?;
            province_windows.insert(province.code, Duration::hours(hours.into()));
        }
        Ok(Settings {
            pilots,
            verification_window: Duration::hours(args.verification_hours.into()),
            province_windows,
            verify_logouts: args.verify_logouts,
            sms_delay: Duration::seconds(args.sms_delay.into()),
            resend_time: args.resend_time,
            ip_rate_limit: args.ip_rate_limit,
            test_hooks: args.test_hooks,
            seed: args.seed,
            ..Settings::default()
        })
    }

    pub fn is_pilot(&self, province: &str) -> bool {
        self.pilots.contains(&province)
    }

    /// The time a filer has to verify, in this province.
    pub fn window_for(&self, province: &str) -> Duration {
        self.province_windows
            .get(province)
            .copied()
            .unwrap_or(self.verification_window)
    }
}

fn parse_time(raw: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(raw.trim(), "%H:%M")
        .map_err(|_| format!("{raw:?} is not a time such as 12:00"))
}
