//! The service's own PostgreSQL cluster, used when no `DATABASE_URL` is given.
//!
//! A newcomer who runs `beian-sms serve`, and the test suite, get a database
//! without setting one up: the server programs already installed on the
//! machine (`initdb`, `pg_ctl`, `postgres`) create a cluster in
//! `<data folder>/pg` and serve it on a Unix socket in `<data folder>/socket`.
//!
//! There are no secrets here, on purpose. The server listens on no TCP
//! address at all, only on that socket, and the socket's folder is mode 0700
//! and belongs to the account the server runs as, so only that account (and
//! root) can connect. Within that boundary `trust` authentication is as safe
//! as a password would be, and leaves no password to store or leak.
//!
//! PostgreSQL refuses to run as root. When the service runs as root, the
//! cluster and socket folders are given to the `postgres` account and the
//! programs run as that account.
//!
//! The server keeps running until [`EmbeddedPostgres::stop`] is called on the
//! value that started it; dropping the value leaves it running. A later start
//! finds it running and reuses it, and then leaves it running in turn.
//!
//! The server's own log (`<data folder>/pg/server.log`) records only start,
//! stop and fatal events: failed statements reach the service, which logs
//! them under its own rules, whereas PostgreSQL would write the offending
//! values (mobiles, codes) into its log.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use sqlx::Connection;
use tokio::process::Command;

const PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
const DATABASE: &str = "beian";
const CREATE_DATABASE: &str = "CREATE DATABASE beian";
/// The room in `sockaddr_un.sun_path` (108 bytes) less its closing NUL.
const SOCKET_PATH_MAX: usize = 107;
/// Rewritten before every start, so that a data folder that has moved still
/// gets the right socket folder.
const SETTINGS_FILE: &str = "beian-sms.conf";
const INCLUDE_LINE: &str = "include = 'beian-sms.conf'";
const PACKAGED_ROOT: &str = "/usr/lib/postgresql";

const NOT_INSTALLED: &str = "PostgreSQL's server programs (initdb, pg_ctl, postgres) were found \
    neither on PATH nor under /usr/lib/postgresql/<version>/bin. Install PostgreSQL's server \
    package (on Debian or Ubuntu: `apt-get install postgresql`), or set DATABASE_URL to a \
    running PostgreSQL server.";

/// A PostgreSQL cluster in a folder of the service's data folder.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    cluster_dir: PathBuf,
    /// The socket folder, already percent-encoded for a URL's query.
    socket_dir_in_url: String,
    /// Present when this value started the server, and so must stop it.
    started: Option<Control>,
}

#[derive(Debug)]
struct Control {
    pg_ctl: PathBuf,
    runner: Runner,
}

impl EmbeddedPostgres {
    /// Starts (or reuses, when it is already running) the cluster in `data_dir/pg`.
    pub async fn start(data_dir: &Path) -> Result<EmbeddedPostgres> {
        let began = Instant::now();
        let data_dir = data_dir.to_path_buf();
        // Held until this function returns, so that two processes starting
        // on the same folder take turns instead of both running initdb.
        let (layout, runner, _lock) = blocking(move || prepare(&data_dir)).await?;

        let mut cluster = EmbeddedPostgres {
            cluster_dir: layout.cluster.clone(),
            socket_dir_in_url: percent_encode(&layout.socket_dir_str, true),
            started: None,
        };

        if layout.server_answers().await {
            tracing::info!(cluster = %layout.cluster.display(), "reusing the running embedded PostgreSQL");
        } else {
            let programs = blocking(find_programs).await?;
            // A cluster of another major version is refused by the server itself,
            // whose words reach the caller through the log's tail.
            let fresh = !tokio::fs::try_exists(layout.cluster.join("PG_VERSION")).await?;
            if fresh {
                init_cluster(&layout, &programs, &runner).await?;
            }
            start_server(&layout, &programs, &runner).await?;
            cluster.started = Some(Control {
                pg_ctl: programs.pg_ctl,
                runner,
            });
            tracing::info!(
                cluster = %layout.cluster.display(),
                initialised = fresh,
                "started the embedded PostgreSQL"
            );
        }

        if let Err(error) = cluster.ensure_database().await {
            // Leave nothing running behind an error that the caller may not recover from.
            if let Err(stop_error) = cluster.stop().await {
                tracing::warn!(error = %format!("{stop_error:#}"), "could not stop the embedded PostgreSQL");
            }
            return Err(error);
        }
        tracing::debug!(
            elapsed_ms = began.elapsed().as_millis() as u64,
            "embedded PostgreSQL ready"
        );
        Ok(cluster)
    }

    /// A sqlx-compatible URL for database `beian` over the Unix socket.
    pub fn database_url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// Same, for another database name (the test suite creates its own databases).
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgres:///{}?host={}&port={PORT}&user={SUPERUSER}",
            percent_encode(database, false),
            self.socket_dir_in_url
        )
    }

    /// Stops the cluster if this value started it (`pg_ctl stop -m fast`); a reused one is left running.
    pub async fn stop(self) -> Result<()> {
        let Some(control) = self.started else {
            tracing::debug!("leaving the reused embedded PostgreSQL running");
            return Ok(());
        };
        let mut command = control.runner.command(&control.pg_ctl);
        command
            .arg("stop")
            .arg("-D")
            .arg(&self.cluster_dir)
            .args(["-m", "fast", "-w"]);
        run(command, "pg_ctl stop").await?;
        tracing::info!(cluster = %self.cluster_dir.display(), "stopped the embedded PostgreSQL");
        Ok(())
    }

    async fn ensure_database(&self) -> Result<()> {
        let mut conn = sqlx::PgConnection::connect(&self.url_for("postgres"))
            .await
            .context("could not connect to the embedded PostgreSQL over its socket")?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(DATABASE)
                .fetch_one(&mut conn)
                .await
                .context("could not look for the database")?;
        if !exists {
            match sqlx::query(CREATE_DATABASE).execute(&mut conn).await {
                Ok(_) => tracing::info!(database = DATABASE, "created the database"),
                // Another process created it between the look and the create.
                Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => {}
                Err(error) => {
                    return Err(error).context(format!("could not create database {DATABASE}"));
                }
            }
        }
        conn.close().await.ok();
        Ok(())
    }
}

/// Where things live, all absolute.
struct Layout {
    root: PathBuf,
    cluster: PathBuf,
    socket_dir: PathBuf,
    socket_dir_str: String,
    socket_file: PathBuf,
}

impl Layout {
    fn new(root: PathBuf) -> Result<Layout> {
        let socket_dir = root.join("socket");
        let socket_file = socket_dir.join(format!(".s.PGSQL.{PORT}"));
        let socket_dir_str = socket_dir
            .to_str()
            .filter(|s| !s.contains(['\n', '\r']))
            .ok_or_else(|| {
                anyhow!(
                    "the data folder {} must be a UTF-8 path without line breaks \
                     to hold PostgreSQL's socket",
                    root.display()
                )
            })?
            .to_owned();
        let length = socket_file.as_os_str().len();
        if length > SOCKET_PATH_MAX {
            bail!(
                "PostgreSQL's socket would be {} ({length} bytes), but a Unix socket's path \
                 can have at most {SOCKET_PATH_MAX} bytes; choose a data folder with a shorter \
                 path, or set DATABASE_URL",
                socket_file.display()
            );
        }
        Ok(Layout {
            cluster: root.join("pg"),
            root,
            socket_dir,
            socket_dir_str,
            socket_file,
        })
    }

    /// A server is running on this cluster when its lock file is there and
    /// its socket accepts a connection; a lock file left by a crash fails the
    /// second test.
    async fn server_answers(&self) -> bool {
        let pid_file = tokio::fs::try_exists(self.cluster.join("postmaster.pid")).await;
        matches!(pid_file, Ok(true))
            && tokio::net::UnixStream::connect(&self.socket_file)
                .await
                .is_ok()
    }
}

/// Creates the folders and takes the start lock. Blocking.
fn prepare(data_dir: &Path) -> Result<(Layout, Runner, File)> {
    // Refuse a socket path that is too long before creating anything; the
    // check is repeated on the canonical path, which symbolic links may lengthen.
    let absolute = std::path::absolute(data_dir)
        .with_context(|| format!("could not resolve the data folder {}", data_dir.display()))?;
    Layout::new(absolute)?;
    fs::create_dir_all(data_dir)
        .with_context(|| format!("could not create the data folder {}", data_dir.display()))?;
    let root = fs::canonicalize(data_dir)
        .with_context(|| format!("could not resolve the data folder {}", data_dir.display()))?;
    let lock_path = root.join("pg.lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("could not open {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("could not lock {}", lock_path.display()))?;

    let layout = Layout::new(root)?;
    let runner = Runner::for_current_user(&layout.root)?;
    make_private_dir(&layout.socket_dir, runner.run_as)?;
    Ok((layout, runner, lock))
}

/// Runs `initdb` into a staging folder and renames it into place, so that an
/// interrupted initdb never leaves a half-made cluster where a whole one is expected.
async fn init_cluster(layout: &Layout, programs: &Programs, runner: &Runner) -> Result<()> {
    let staging = layout.root.join("pg.initdb");
    if tokio::fs::try_exists(&staging).await? {
        tokio::fs::remove_dir_all(&staging)
            .await
            .with_context(|| format!("could not remove {}", staging.display()))?;
    }
    let owner = runner.run_as;
    let dir = staging.clone();
    blocking(move || make_private_dir(&dir, owner)).await?;

    let mut command = runner.command(&programs.initdb);
    command.arg("-D").arg(&staging).args([
        "-U",
        SUPERUSER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
    ]);
    run(command, "initdb").await?;

    let conf = staging.join("postgresql.conf");
    blocking(move || add_include(&conf)).await?;
    tokio::fs::rename(&staging, &layout.cluster)
        .await
        .with_context(|| {
            format!(
                "could not move the new cluster to {}",
                layout.cluster.display()
            )
        })
}

async fn start_server(layout: &Layout, programs: &Programs, runner: &Runner) -> Result<()> {
    let cluster = layout.cluster.clone();
    let socket_dir = layout.socket_dir_str.clone();
    let owner = runner.run_as;
    blocking(move || {
        // A cluster made by another tool may lack the include; without it the
        // server would listen on TCP port 5432.
        add_include(&cluster.join("postgresql.conf"))?;
        write_settings(&cluster, &socket_dir, owner)
    })
    .await?;

    let log = layout.cluster.join("server.log");
    let mut command = runner.command(&programs.pg_ctl);
    command
        .arg("start")
        .arg("-w")
        .arg("-D")
        .arg(&layout.cluster)
        .arg("-l")
        .arg(&log);
    if let Err(error) = run(command, "pg_ctl start").await {
        let tail = log_tail(&log).await;
        return Err(error.context(format!(
            "PostgreSQL did not start; the end of {}:\n{tail}",
            log.display()
        )));
    }
    Ok(())
}

fn write_settings(cluster: &Path, socket_dir: &str, owner: Option<Account>) -> Result<()> {
    let path = cluster.join(SETTINGS_FILE);
    let text = format!(
        "# Written by beian-sms before each start of this server; edits are overwritten.\n\
         # Only a Unix socket in a folder private to this server's account, no TCP:\n\
         listen_addresses = ''\n\
         unix_socket_directories = '{}'\n\
         port = {PORT}\n\
         # Room for a test suite's many pools.\n\
         max_connections = 200\n\
         # Failed statements carry filing data (mobiles, codes) in their messages;\n\
         # the service logs them under its own rules, so the server log keeps to\n\
         # start, stop and fatal events.\n\
         log_min_messages = log\n\
         log_min_error_statement = panic\n\
         log_checkpoints = off\n\
         # The jobs write in bulk (a sweep may return a million filings at once):\n\
         # room for their pages, and checkpoints far enough apart that such a\n\
         # burst does not set off one after another, each writing every page it\n\
         # touches again in full. (Compressing those page images cost more CPU\n\
         # than it saved on a 2-core machine.)\n\
         shared_buffers = 512MB\n\
         max_wal_size = 4GB\n\
         checkpoint_timeout = 15min\n",
        conf_quote(socket_dir)
    );
    let mut file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("could not write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("could not write {}", path.display()))?;
    if let Some(account) = owner {
        account.give(&path)?;
    }
    Ok(())
}

fn add_include(conf: &Path) -> Result<()> {
    let text =
        fs::read_to_string(conf).with_context(|| format!("could not read {}", conf.display()))?;
    if text.lines().any(|line| line.trim() == INCLUDE_LINE) {
        return Ok(());
    }
    let mut file = OpenOptions::new()
        .append(true)
        .open(conf)
        .with_context(|| format!("could not open {}", conf.display()))?;
    write!(
        file,
        "\n# Added by beian-sms: its own settings, which come last and so win.\n{INCLUDE_LINE}\n"
    )
    .with_context(|| format!("could not write {}", conf.display()))
}

/// A string literal of postgresql.conf.
fn conf_quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('\'', "''")
}

async fn log_tail(log: &Path) -> String {
    match tokio::fs::read_to_string(log).await {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        }
        Err(error) => format!("(could not read it: {error})"),
    }
}

/// The folder holding `initdb` and `pg_ctl` (and `postgres`, which they run).
struct Programs {
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

impl Programs {
    fn in_dir(dir: &Path) -> Option<Programs> {
        let all_there = ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|name| is_executable(&dir.join(name)));
        all_there.then(|| Programs {
            initdb: dir.join("initdb"),
            pg_ctl: dir.join("pg_ctl"),
        })
    }
}

fn find_programs() -> Result<Programs> {
    find_programs_in(std::env::var_os("PATH"), Path::new(PACKAGED_ROOT))
}

/// PATH first, then Debian's versioned folders, highest version first.
fn find_programs_in(path: Option<std::ffi::OsString>, packaged_root: &Path) -> Result<Programs> {
    let on_path = path
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        // Children run in the data folder, where a relative entry means something else.
        .filter(|dir| dir.is_absolute())
        .find_map(|dir| Programs::in_dir(&dir));
    if let Some(programs) = on_path {
        return Ok(programs);
    }
    let mut packaged: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(packaged_root)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(|part| part.parse().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    packaged.sort();
    packaged
        .iter()
        .rev()
        .find_map(|(_, dir)| Programs::in_dir(dir))
        .ok_or_else(|| anyhow!(NOT_INSTALLED))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.mode() & 0o111 != 0)
}

#[derive(Debug, Clone, Copy)]
struct Account {
    uid: u32,
    gid: u32,
}

impl Account {
    fn give(self, path: &Path) -> Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).with_context(|| {
            format!(
                "could not give {} to the `{SUPERUSER}` account",
                path.display()
            )
        })
    }

    /// Whether this account can enter `dir` and every folder above it, read
    /// from the permission bits (supplementary groups are dropped when a
    /// child switches to the account, so only its primary group counts).
    fn check_reaches(self, dir: &Path) -> Result<()> {
        for folder in dir.ancestors().collect::<Vec<_>>().into_iter().rev() {
            let meta = fs::metadata(folder)
                .with_context(|| format!("could not inspect {}", folder.display()))?;
            let execute_bit = if meta.uid() == self.uid {
                0o100
            } else if meta.gid() == self.gid {
                0o010
            } else {
                0o001
            };
            if meta.mode() & execute_bit == 0 {
                bail!(
                    "PostgreSQL refuses to run as root, so it runs as the `{SUPERUSER}` account, \
                     which cannot enter {} (mode {:o}); choose a data folder it can reach (for \
                     example under /var/lib or /tmp), let others enter that folder (chmod o+x), \
                     or set DATABASE_URL",
                    folder.display(),
                    meta.mode() & 0o7777
                );
            }
        }
        Ok(())
    }
}

/// Runs the server programs as the right account, from the data folder.
#[derive(Debug)]
struct Runner {
    run_as: Option<Account>,
    workdir: PathBuf,
}

impl Runner {
    fn for_current_user(root: &Path) -> Result<Runner> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let run_as = if unsafe { libc::geteuid() } == 0 {
            let account = lookup_account(SUPERUSER)?.ok_or_else(|| {
                anyhow!(
                    "PostgreSQL refuses to run as root, and there is no `{SUPERUSER}` account to \
                     run it as; create one (Debian's `apt-get install postgresql` does, or \
                     `useradd --system --user-group {SUPERUSER}`), run beian-sms as an ordinary \
                     user, or set DATABASE_URL"
                )
            })?;
            account.check_reaches(root)?;
            Some(account)
        } else {
            None
        };
        Ok(Runner {
            run_as,
            workdir: root.to_path_buf(),
        })
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        // The service's own working folder may be closed to the postgres account.
        command.current_dir(&self.workdir).stdin(Stdio::null());
        if let Some(account) = self.run_as {
            command.uid(account.uid).gid(account.gid);
        }
        command
    }
}

fn lookup_account(name: &str) -> Result<Option<Account>> {
    let c_name = CString::new(name)?;
    let mut buffer: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd is plain data, for which all zero bytes is a valid value.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call, and the buffer's true
        // length is passed; `entry` points into `buffer` only until the next
        // iteration, and only its integer fields are read.
        let status = unsafe {
            libc::getpwnam_r(
                c_name.as_ptr(),
                &mut entry,
                buffer.as_mut_ptr(),
                buffer.len(),
                &mut found,
            )
        };
        if status == libc::ERANGE && buffer.len() < 1 << 20 {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if status != 0 {
            return Err(io::Error::from_raw_os_error(status))
                .with_context(|| format!("could not look up the `{name}` account"));
        }
        return Ok((!found.is_null()).then_some(Account {
            uid: entry.pw_uid,
            gid: entry.pw_gid,
        }));
    }
}

/// Creates `dir` if needed, mode 0700, owned by `owner` when given.
fn make_private_dir(dir: &Path, owner: Option<Account>) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => {
            return Err(error).with_context(|| format!("could not create {}", dir.display()));
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("could not set the mode of {}", dir.display()))?;
    if let Some(account) = owner {
        account.give(dir)?;
    }
    Ok(())
}

/// Runs a command to its end; a failure carries what it printed.
async fn run(mut command: Command, what: &str) -> Result<()> {
    let output = command
        .output()
        .await
        .with_context(|| format!("could not run {what}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            stderr.trim(),
            if stdout.trim().is_empty() {
                String::new()
            } else {
                format!("\n{}", stdout.trim())
            }
        );
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("a file-system task of the embedded PostgreSQL panicked")?
}

/// Percent-encodes all but unreserved characters (and `/` when `keep_slash`).
fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_folder_is_kept_readable_in_the_url() {
        assert_eq!(
            percent_encode("/tmp/a b/sock+et", true),
            "/tmp/a%20b/sock%2Bet"
        );
        assert_eq!(percent_encode("db/x", false), "db%2Fx");
    }

    #[test]
    fn conf_strings_escape_quotes_and_backslashes() {
        assert_eq!(conf_quote(r"/tmp/it's\x"), r"/tmp/it''s\\x");
    }

    #[test]
    fn missing_programs_are_reported_with_what_to_install() {
        let error = find_programs_in(None, Path::new("/nonexistent/postgresql"))
            .err()
            .expect("nothing to find")
            .to_string();
        assert!(error.contains("apt-get install postgresql"), "{error}");
        assert!(error.contains("DATABASE_URL"), "{error}");
    }

    #[test]
    fn a_socket_path_over_107_bytes_is_refused_with_its_path() {
        let long = PathBuf::from(format!("/tmp/{}", "d".repeat(100)));
        let error = Layout::new(long).err().expect("too long").to_string();
        assert!(error.contains(".s.PGSQL.5432"), "{error}");
        assert!(error.contains("at most 107 bytes"), "{error}");
    }

    #[test]
    fn a_socket_path_of_107_bytes_is_accepted() {
        // "/socket/.s.PGSQL.5432" is 21 bytes.
        let root = PathBuf::from(format!("/{}", "d".repeat(107 - 21 - 1)));
        let layout = Layout::new(root).expect("fits");
        assert_eq!(layout.socket_file.as_os_str().len(), 107);
    }
}
