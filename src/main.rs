use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

use beian_sms::clock::Clock;
use beian_sms::config::{
    Cli, ClockKind, Command, DatabaseArgs, OperatorAction, OperatorArgs, ServeArgs, Settings,
};
use beian_sms::embedded_pg::EmbeddedPostgres;
use beian_sms::flows::{Core, operators};
use beian_sms::{AppState, db, demo, jobs, router, serve};

/// How long requests in flight may take to finish once shutdown begins.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args).await,
        Command::Migrate(args) => run_migrate(args).await,
        Command::Operator(args) => run_operator(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "beian-sms: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The database to use: the given URL, or the private cluster under the data folder.
async fn database(args: &DatabaseArgs) -> anyhow::Result<(String, Option<EmbeddedPostgres>)> {
    match args
        .database_url
        .as_deref()
        .filter(|url| !url.trim().is_empty())
    {
        Some(url) => Ok((url.to_string(), None)),
        None => {
            tracing::info!(data_dir = %args.data_dir.display(), "no DATABASE_URL: starting the private PostgreSQL");
            let cluster = EmbeddedPostgres::start(&args.data_dir).await?;
            Ok((cluster.database_url(), Some(cluster)))
        }
    }
}

async fn run_migrate(args: DatabaseArgs) -> anyhow::Result<()> {
    let (url, cluster) = database(&args).await?;
    let outcome = async {
        let pool = db::connect(&url, 2).await?;
        db::migrate(&pool).await?;
        tracing::info!("migrations applied");
        anyhow::Ok(())
    }
    .await;
    if let Some(cluster) = cluster {
        cluster.stop().await?;
    }
    outcome
}

async fn run_operator(args: OperatorArgs) -> anyhow::Result<()> {
    let password = match &args.action {
        OperatorAction::Add { .. } | OperatorAction::Reset { .. } => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line
        }
        OperatorAction::Remove { .. } => String::new(),
    };
    let (url, cluster) = database(&args.database).await?;
    let outcome = async {
        let pool = db::connect(&url, 2).await?;
        db::migrate(&pool).await?;
        let core = Core::new(pool, Clock::System, Settings::default());
        let (done, name) = match &args.action {
            OperatorAction::Add { name, .. } => {
                (operators::add(&core, name, &password).await, name)
            }
            OperatorAction::Reset { name, .. } => (
                operators::reset_password(&core, name, &password).await,
                name,
            ),
            OperatorAction::Remove { name } => (operators::remove(&core, name).await, name),
        };
        done?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "done: operator {name}")?;
        anyhow::Ok(())
    }
    .await;
    if let Some(cluster) = cluster {
        cluster.stop().await?;
    }
    outcome
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.test_hooks && !args.bind.ip().is_loopback() && !args.allow_remote_test_hooks {
        anyhow::bail!(
            "--test-hooks on {} would let anyone who reaches it read every code; bind a loopback \
             address, or add --allow-remote-test-hooks if that is really wanted",
            args.bind
        );
    }
    let settings = Settings::from_args(&args)?;
    let (url, cluster) = database(&args.database).await?;
    let outcome = serve_on(&args, settings, &url).await;
    if let Some(cluster) = cluster {
        cluster.stop().await?;
    }
    outcome
}

async fn serve_on(args: &ServeArgs, settings: Settings, url: &str) -> anyhow::Result<()> {
    let pool = db::connect(url, 20).await?;
    db::migrate(&pool).await?;
    let clock = match args.clock {
        ClockKind::System => Clock::System,
        ClockKind::Virtual => Clock::Virtual(pool.clone()),
    };
    let core = Core::new(pool, clock, settings);
    let listener = TcpListener::bind(args.bind).await.with_context(|| {
        format!(
            "cannot listen on {} (another server there? choose another with --bind)",
            args.bind
        )
    })?;
    let address = listener.local_addr()?;
    if args.demo {
        let seeded = demo::seed(&core).await?;
        print_demo(&seeded, address.port(), args.test_hooks)?;
    }
    let state = AppState::new(core.clone()).await?;
    let (stop_jobs, stopped) = watch::channel(false);
    let listener_task = tokio::spawn(jobs::listen(core.clone(), stopped.clone()));
    let jobs_core = core.for_jobs();
    let webhooks_task = tokio::spawn(jobs::send_webhooks(jobs_core.clone(), stopped.clone()));
    let jobs = tokio::spawn(jobs::run(jobs_core, stopped));
    tracing::info!(%address, "serving");
    // After the signal, requests in flight get a grace period; a client that
    // never finishes its request does not keep the service up.
    let (signalled, grace) = tokio::sync::oneshot::channel::<()>();
    let server = serve(listener, router(state), async move {
        shutdown_signal().await;
        let _ = signalled.send(());
    });
    tokio::select! {
        served = server => served?,
        _ = async {
            if grace.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => tracing::warn!("requests still open after the grace period; stopping anyway"),
    }
    tracing::info!("stopping the background jobs");
    let _ = stop_jobs.send(true);
    jobs.await?;
    listener_task.await?;
    webhooks_task.await?;
    Ok(())
}

/// The demo's banner goes to standard output, for the person who started it.
fn print_demo(demo: &demo::Demo, port: u16, hooks: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nbeian-sms demo data is ready.\n")?;
    writeln!(out, "  Portals:     http://localhost:{port}/")?;
    writeln!(
        out,
        "  Gansu:       http://gscainfo.localhost:{port}/  (or http://localhost:{port}/p/gs/)"
    )?;
    writeln!(out, "  Tianjin:     http://tjcainfo.localhost:{port}/")?;
    writeln!(out, "  ISP API key: {}  (shown once)", demo.isp.api_key)?;
    writeln!(out, "\n  Demo handsets (made-up numbers):")?;
    for (mobile, tail, province) in &demo.handsets {
        let inbox = match hooks {
            true => format!("http://localhost:{port}/api/test/handsets/{mobile}/messages"),
            false => "start with --test-hooks to read its inbox".to_string(),
        };
        writeln!(
            out,
            "    {mobile} on the {province} portal, certificate ending {tail}: {inbox}"
        )?;
    }
    writeln!(out)?;
    out.flush()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
}
