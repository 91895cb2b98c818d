//! Spawns the real service on a random loopback port, on a fresh PostgreSQL
//! database cloned from a migrated template, and talks to it over HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;

use beian_sms::clock::Clock;
use beian_sms::config::Settings;
use beian_sms::embedded_pg::EmbeddedPostgres;
use beian_sms::flows::Core;
use beian_sms::{AppState, db, jobs, router, serve};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Every database a run makes is named `beian_test_<run>_<suffix>`, where
/// `<run>` is the run's start in Unix seconds: a run drops what runs over an
/// hour old left behind, and never another run's databases while it works.
fn run_prefix() -> &'static str {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PREFIX.get_or_init(|| {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs();
        format!(
            "beian_test_{started}_{}",
            &Uuid::new_v4().simple().to_string()[..8]
        )
    })
}

fn template() -> String {
    format!("{}_template", run_prefix())
}

/// The server the tests create their databases on.
enum Server {
    /// From DATABASE_URL: a URL with `{db}` where the database name goes.
    Given(String),
    Embedded(EmbeddedPostgres),
}

impl Server {
    fn url(&self, database: &str) -> String {
        match self {
            Server::Given(pattern) => pattern.replace("{db}", database),
            Server::Embedded(cluster) => cluster.url_for(database),
        }
    }
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// With DATABASE_URL, its server; without, the embedded cluster under
/// `target/`, started once and left running for the next run.
async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let server = match std::env::var("DATABASE_URL") {
                Ok(url) => Server::Given(database_url_pattern(&url)),
                Err(_) => {
                    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-pg");
                    Server::Embedded(
                        EmbeddedPostgres::start(&dir)
                            .await
                            .expect("embedded PostgreSQL starts"),
                    )
                }
            };
            create_template(&server).await;
            server
        })
        .await
}

/// `postgres://user@host:5432/name?opts` becomes `postgres://user@host:5432/{db}?opts`.
fn database_url_pattern(url: &str) -> String {
    let (head, query) = url
        .split_once('?')
        .map_or((url, None), |(h, q)| (h, Some(q)));
    let authority_start = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority_start..].find('/') {
        Some(slash) => &head[..authority_start + slash],
        None => head,
    };
    match query {
        Some(query) => format!("{base}/{{db}}?{query}"),
        None => format!("{base}/{{db}}"),
    }
}

/// Migrates the template database once per test run (replacing an older one),
/// and drops test databases that runs over an hour old left behind.
async fn create_template(server: &Server) {
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .expect("connect to postgres");
    admin
        .execute("SELECT pg_advisory_lock(74201)")
        .await
        .expect("lock");
    let leftovers: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database d
         WHERE datname ~ '^beian_test_[0-9]+_'
           AND split_part(datname, '_', 3)::bigint < extract(epoch FROM now()) - 3600
           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
    )
    .fetch_all(&mut admin)
    .await
    .expect("list databases");
    for name in leftovers {
        let drop = format!("DROP DATABASE IF EXISTS \"{name}\"");
        admin
            .execute(sqlx::AssertSqlSafe(drop))
            .await
            .expect("drop leftover database");
    }
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{}\"",
            template()
        )))
        .await
        .expect("create template");
    let pool = db::connect(&server.url(&template()), 1)
        .await
        .expect("connect to template");
    db::migrate(&pool).await.expect("migrate template");
    pool.close().await;
    admin
        .execute("SELECT pg_advisory_unlock(74201)")
        .await
        .expect("unlock");
}

pub async fn fresh_database() -> String {
    let server = server().await;
    let name = format!("{}_{}", run_prefix(), Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .expect("connect");
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
            template()
        )))
        .await
        .expect("clone template");
    server.url(&name)
}

pub struct TestApp {
    pub base: String,
    pub address: SocketAddr,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub core: Core,
    pub isp_key: String,
    /// The database this instance serves, for a second instance to share.
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stop_jobs: tokio::sync::watch::Sender<bool>,
}

pub struct Options {
    pub settings: Settings,
    pub virtual_clock: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            settings: Settings {
                test_hooks: true,
                ip_rate_limit: 0,
                sms_delay: chrono::Duration::zero(),
                ..Settings::default()
            },
            virtual_clock: true,
        }
    }
}

impl Options {
    /// The defaults, with the first SMS reaching the handset `seconds` after
    /// submission.
    pub fn sms_delay(seconds: i64) -> Options {
        let mut options = Options::default();
        options.settings.sms_delay = chrono::Duration::seconds(seconds);
        options
    }
}

/// The value of a page's hidden form field.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in the page"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(Options::default()).await
    }

    pub async fn spawn_with(options: Options) -> TestApp {
        let url = fresh_database().await;
        TestApp::spawn_fresh(&url, options).await
    }

    /// Like `spawn_with`, on a database the caller prepared from `fresh_database_url`.
    pub async fn spawn_fresh(url: &str, options: Options) -> TestApp {
        let mut app = TestApp::spawn_on(url, options).await;
        if app.core.settings.test_hooks {
            let isp = app
                .post("/api/test/isps", &json!({ "name": "Test ISP" }))
                .await;
            app.isp_key = isp["api_key"].as_str().expect("api key").to_string();
        }
        app
    }

    /// Another instance on this one's database, as a second server behind a
    /// load balancer would be; it shares the ISP key.
    pub async fn another_instance(&self) -> TestApp {
        let options = Options {
            settings: (*self.core.settings).clone(),
            virtual_clock: self.core.clock.is_virtual(),
        };
        let mut app = TestApp::spawn_on(&self.database_url, options).await;
        app.isp_key = self.isp_key.clone();
        app
    }

    /// A server with its background jobs on an existing database.
    pub async fn spawn_on(url: &str, options: Options) -> TestApp {
        // BEIAN_TEST_LOG=warn (or any log filter) shows the service's log.
        if let Ok(filter) = std::env::var("BEIAN_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_test_writer()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .try_init();
        }
        let pool = db::connect(url, 10)
            .await
            .expect("connect to the test database");
        let clock = if options.virtual_clock {
            Clock::Virtual(pool.clone())
        } else {
            Clock::System
        };
        let core = Core::new(pool.clone(), clock, options.settings);
        let state = AppState::new(core.clone()).await.expect("state");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, router(state), async {
            let _ = stopped.await;
        }));
        let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(jobs::listen(core.clone(), jobs_stopped.clone()));
        let jobs_core = core.for_jobs();
        tokio::spawn(jobs::send_webhooks(jobs_core.clone(), jobs_stopped.clone()));
        tokio::spawn(jobs::run(jobs_core, jobs_stopped));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        TestApp {
            base: format!("http://{address}"),
            address,
            client,
            pool,
            core,
            isp_key: String::new(),
            database_url: url.to_string(),
            stop: Some(stop),
            stop_jobs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs JSON and expects a success; returns the body.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path} answered {status}: {body}");
        body
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "GET {path} answered {status}: {body}");
        body
    }

    /// Submits a filing with this app's ISP key; returns status and body.
    pub async fn submit_raw(&self, filing: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/api/v1/filings"))
            .bearer_auth(&self.isp_key)
            .json(filing)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn submit(&self, filing: &Value) -> Value {
        let (status, body) = self.submit_raw(filing).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn filing(&self, id: &str) -> Value {
        let response = self
            .client
            .get(self.url(&format!("/api/v1/filings/{id}")))
            .bearer_auth(&self.isp_key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// `GET /api/v1/filings` as the ISP with this key sees it.
    pub async fn list_filings(&self, key: &str) -> Value {
        let response = self
            .client
            .get(self.url("/api/v1/filings"))
            .bearer_auth(key)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn inbox(&self, mobile: &str) -> Vec<Value> {
        let body = self
            .get_json(&format!("/api/test/handsets/{mobile}/messages"))
            .await;
        body.as_array().expect("a list").clone()
    }

    /// The code of the newest SMS on the handset.
    pub async fn latest_code(&self, mobile: &str) -> String {
        let inbox = self.inbox(mobile).await;
        let last = inbox.last().unwrap_or_else(|| panic!("no SMS on {mobile}"));
        last["code"].as_str().expect("code").to_string()
    }

    /// Locks the filing's row, as a request working on it would, until the
    /// returned transaction ends.
    pub async fn hold_filing(&self, id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let mut held = self.pool.begin().await.unwrap();
        sqlx::query("SELECT 1 FROM filings WHERE id = $1::uuid FOR UPDATE")
            .bind(id)
            .execute(&mut *held)
            .await
            .unwrap();
        held
    }

    /// How many statements on this app's database wait for a row lock.
    pub async fn row_lock_waits(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
               AND wait_event_type = 'Lock' AND wait_event <> 'advisory'",
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    pub async fn advance(&self, seconds: i64) {
        self.post("/api/test/clock", &json!({ "advance_seconds": seconds }))
            .await;
    }

    /// A captcha and its right answer.
    pub async fn captcha(&self) -> (String, String) {
        let made = self.post("/api/v1/captchas", &json!({})).await;
        let id = made["id"].as_str().expect("id").to_string();
        let answer = self.get_json(&format!("/api/test/captchas/{id}")).await;
        (id, answer["answer"].as_str().expect("answer").to_string())
    }

    /// Verifies through the JSON twin with a fresh, rightly answered captcha.
    pub async fn verify(
        &self,
        province: &str,
        certificate_last6: &str,
        mobile: &str,
        code: &str,
    ) -> Value {
        let (captcha_id, captcha_answer) = self.captcha().await;
        self.post(
            "/api/v1/verifications",
            &json!({
                "province": province,
                "certificate_last6": certificate_last6,
                "mobile": mobile,
                "code": code,
                "captcha_id": captcha_id,
                "captcha_answer": captcha_answer,
            }),
        )
        .await
    }

    pub async fn resend(&self, province: &str, mobile: &str, certificate_last6: &str) -> Value {
        let (captcha_id, captcha_answer) = self.captcha().await;
        self.post(
            "/api/v1/resends",
            &json!({
                "province": province,
                "mobile": mobile,
                "certificate_last6": certificate_last6,
                "captcha_id": captcha_id,
                "captcha_answer": captcha_answer,
            }),
        )
        .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = self.stop_jobs.send(true);
    }
}

/// Made-up people for test filings.
pub const ZHANG: (&str, &str, &str) = ("Zhang Wei", "620102198001011234", "13800138000");
pub const LI: (&str, &str, &str) = ("Li Na", "62010219900202567X", "13300133000");

/// A China wall-clock time some days ahead of the virtual clock, as UTC.
pub async fn china_time_ahead(
    app: &TestApp,
    days: i64,
    hour: u32,
    minute: u32,
) -> chrono::DateTime<chrono::Utc> {
    let now = app.core.clock.now().await.unwrap();
    let day = beian_sms::clock::china_date(now) + chrono::Duration::days(days);
    let wall = day.and_time(chrono::NaiveTime::from_hms_opt(hour, minute, 0).unwrap());
    wall.and_local_timezone(beian_sms::clock::CHINA)
        .single()
        .unwrap()
        .to_utc()
}

/// Sets the virtual clock through the test hook.
pub async fn set_clock(app: &TestApp, to: chrono::DateTime<chrono::Utc>) {
    app.post("/api/test/clock", &json!({ "set": to })).await;
}

pub fn person((name, certificate, mobile): (&str, &str, &str)) -> Value {
    json!({ "name": name, "certificate_number": certificate, "mobile": mobile })
}

/// A new_filing in `province` with a subject person and one website person.
pub fn new_filing(province: &str, subject: Value, website: Value) -> Value {
    json!({
        "province": province,
        "kind": "new_filing",
        "isp_reference": format!("ISP-{}", Uuid::new_v4().simple()),
        "subject": {
            "name": "Example Trading Co., Ltd.",
            "certificate_type": "business_license",
            "certificate_number": "91620100MA0000000X",
            "changed": false,
            "responsible_person": subject,
        },
        "websites": [{
            "name": "Example Shop",
            "domains": ["example.cn"],
            "changed": false,
            "responsible_person": website,
        }],
    })
}

/// The last six characters of a certificate number.
pub fn tail(certificate: &str) -> &str {
    &certificate[certificate.len() - 6..]
}

/// Waits until `check` holds, looking every 50 ms for at most ten seconds:
/// for work a background job does on its own time.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !check().await {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
