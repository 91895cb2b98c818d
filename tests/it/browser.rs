//! A real browser: headless Chromium driven through ChromeDriver (Debian's
//! `chromium` and `chromium-driver`). A filer verifies on the Gansu portal,
//! reached by its host name; an operator approves the filing. Each final page
//! is saved as a screenshot under `target/browser-screenshots/`.
//!
//! Without ChromeDriver these tests say so and pass, unless
//! `BEIAN_BROWSER_TESTS=required` (as `.ci/run` sets), when they fail.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::*;

/// A ChromeDriver of this test's own, stopped when dropped.
struct Driver {
    process: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn chromedriver() -> Option<PathBuf> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Starts ChromeDriver and a headless Chromium session, or explains why not.
async fn browser() -> Option<(Driver, Client)> {
    let Some(binary) = chromedriver() else {
        let required = std::env::var("BEIAN_BROWSER_TESTS").is_ok_and(|v| v == "required");
        assert!(
            !required,
            "BEIAN_BROWSER_TESTS=required but chromedriver is not installed"
        );
        eprintln!("skipping a browser test: install chromium and chromium-driver to run it");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let process = Command::new(binary)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver { process, port };
    let profile = tempdir();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1000,1200", "--lang=en-US",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let url = format!("http://127.0.0.1:{}", driver.port);
    for _ in 0..100 {
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities.clone())
            .connect(&url)
            .await;
        if let Ok(client) = connected {
            return Some((driver, client));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer within ten seconds");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("beian-browser-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn fill(client: &Client, id: &str, text: &str) {
    let field = client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("no #{id}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css}"))
        .click()
        .await
        .unwrap();
}

async fn wait_for(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("no {css} appeared"));
}

async fn outcome(client: &Client) -> String {
    let marked = client
        .wait()
        .for_element(Locator::Css("[data-outcome]"))
        .await
        .expect("an outcome");
    marked
        .attr("data-outcome")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filer_verifies_on_the_gansu_portal_and_an_operator_approves_it() {
    let Some((_driver, client)) = browser().await else {
        return;
    };
    let app = TestApp::spawn().await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(ZHANG)))
        .await;
    let id = filing["id"].as_str().unwrap().to_string();
    let code = app.latest_code(ZHANG.2).await;

    // The filer, on the portal reached by its host name.
    let port = app.address.port();
    client
        .goto(&format!("http://gscainfo.localhost:{port}/"))
        .await
        .unwrap();
    click(&client, "a.button").await;
    fill(&client, "certificate_last6", &tail(ZHANG.1).to_lowercase()).await;
    fill(&client, "mobile", "+86 138-0013-8000").await;
    fill(&client, "code", &code).await;
    let captcha_id = client
        .find(Locator::Css("input[name=captcha_id]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    let answer = app
        .get_json(&format!("/api/test/captchas/{captcha_id}"))
        .await;
    fill(
        &client,
        "captcha_answer",
        answer["answer"].as_str().unwrap(),
    )
    .await;
    click(&client, "form button[type=submit]").await;
    assert_eq!(outcome(&client).await, "verified");
    screenshot(&client, "filer-verified").await;
    assert_eq!(app.filing(&id).await["state"], "awaiting_review");

    // The operator signs in, finds the filing and approves it.
    beian_sms::flows::operators::add(&app.core, "zhou.min", "correct horse battery")
        .await
        .unwrap();
    client
        .goto(&format!("http://localhost:{port}/ops/login"))
        .await
        .unwrap();
    fill(&client, "username", "zhou.min").await;
    fill(&client, "password", "correct horse battery").await;
    click(&client, "form button[type=submit]").await;
    wait_for(&client, "table.list").await;
    let reference = filing["isp_reference"].as_str().unwrap();
    client
        .find(Locator::LinkText(reference))
        .await
        .expect("the filing is listed")
        .click()
        .await
        .unwrap();
    wait_for(&client, "[data-state=awaiting_review]").await;
    // The language switch changes the page and the choice outlives it.
    let first = page_lang(&client).await;
    click(&client, "a.lang-switch").await;
    wait_for(&client, "[data-state=awaiting_review]").await;
    let switched = page_lang(&client).await;
    assert_ne!(first, switched, "the switch changed the language");
    click(&client, "form[action$='/approve'] button").await;
    assert_eq!(outcome(&client).await, "approved");
    assert_eq!(page_lang(&client).await, switched, "the choice sticks");
    let number = client
        .find(Locator::Css("[data-icp-number]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        number.starts_with("甘ICP备") && number.ends_with("000001号"),
        "{number}"
    );
    screenshot(&client, "operator-approved").await;
    assert_eq!(app.filing(&id).await["icp_number"], number.as_str());

    // On a phone's screen no page is wider than the screen: wide tables
    // scroll inside their own box.
    client.set_window_size(390, 844).await.unwrap();
    let filing_page = client.current_url().await.unwrap().to_string();
    for path in [
        filing_page,
        format!("http://localhost:{port}/ops/filings"),
        format!("http://localhost:{port}/ops/sms"),
        format!("http://localhost:{port}/ops/isps"),
        format!("http://gscainfo.localhost:{port}/verify"),
    ] {
        client.goto(&path).await.unwrap();
        wait_for(&client, "main h1").await;
        let widths = client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (page, screen) = (widths[0].as_i64().unwrap(), widths[1].as_i64().unwrap());
        assert!(
            page <= screen,
            "{path} is {page}px wide on a {screen}px screen"
        );
    }
    screenshot(&client, "filer-phone").await;
    client
        .goto(&format!("http://localhost:{port}/ops/sms"))
        .await
        .unwrap();
    screenshot(&client, "operator-phone").await;
    client.close().await.unwrap();
}

/// The language the page says it is in.
async fn page_lang(client: &Client) -> String {
    client
        .find(Locator::Css("html"))
        .await
        .unwrap()
        .attr("lang")
        .await
        .unwrap()
        .unwrap_or_default()
}
