//! The portal pages over HTTP: routing by host and by path, the forms, the
//! outcome marks, languages and headers.

use reqwest::StatusCode;

use crate::helpers::*;

fn outcome(html: &str) -> Option<String> {
    let start = html.find("data-outcome=\"")? + "data-outcome=\"".len();
    Some(html[start..].split('"').next()?.to_string())
}

struct Browser<'a> {
    app: &'a TestApp,
    host: String,
}

impl Browser<'_> {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .app
            .client
            .get(self.app.url(path))
            .header("host", &self.host)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Fills the form at `path` the way a person would, reading the captcha through the hook.
    async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let (_, page) = self.get(path).await;
        let captcha_id = hidden(&page, "captcha_id");
        let answer = self
            .app
            .get_json(&format!("/api/test/captchas/{captcha_id}"))
            .await;
        let answer = answer["answer"].as_str().unwrap().to_string();
        let csrf = hidden(&page, "csrf_token");
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.extend([
            ("captcha_id", captcha_id.as_str()),
            ("csrf_token", csrf.as_str()),
            ("captcha_answer", answer.as_str()),
        ]);
        let response = self
            .app
            .client
            .post(self.app.url(path))
            .header("host", &self.host)
            .form(&form)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

fn browser<'a>(app: &'a TestApp, host_prefix: &str) -> Browser<'a> {
    let host = if host_prefix.is_empty() {
        format!("localhost:{}", app.address.port())
    } else {
        format!("{host_prefix}.localhost:{}", app.address.port())
    };
    Browser { app, host }
}

#[tokio::test]
async fn the_bare_host_lists_the_pilot_portals() {
    let app = TestApp::spawn().await;
    let (status, page) = browser(&app, "").get("/").await;
    assert_eq!(status, StatusCode::OK);
    for host in [
        "gscainfo.miitbeian.gov.cn",
        "xzcainfo",
        "nxcainfo",
        "hncainfo",
        "xjcainfo",
        "qhcainfo",
        "tjcainfo",
    ] {
        assert!(page.contains(host), "{host} missing");
    }
    assert!(!page.contains("bjcainfo"), "Beijing is not a pilot");
}

#[tokio::test]
async fn a_portal_is_reached_by_host_or_by_path() {
    let app = TestApp::spawn().await;
    let (status, by_host) = browser(&app, "gscainfo").get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_host.contains("甘肃"), "{by_host}");
    let (status, by_path) = browser(&app, "").get("/p/tj/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(by_path.contains("天津"));
    assert!(by_path.contains("href=\"/p/tj/verify\""));
    assert_eq!(
        browser(&app, "").get("/p/zz/verify").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser(&app, "").get("/p/bj/verify").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser(&app, "").get("/verify").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_filer_verifies_on_the_portal_form() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let code = app.latest_code(ZHANG.2).await;
    let gansu = browser(&app, "gscainfo");
    let (status, page) = gansu
        .submit(
            "/verify",
            &[
                ("certificate_last6", tail(ZHANG.1)),
                ("mobile", ZHANG.2),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome(&page).as_deref(), Some("verified"));
    assert!(
        page.contains("133****3000"),
        "names the mobile still waiting"
    );
    assert!(!page.contains(&code), "the code is not echoed");

    let (_, page) = gansu
        .submit(
            "/verify",
            &[
                ("certificate_last6", tail(ZHANG.1)),
                ("mobile", ZHANG.2),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(outcome(&page).as_deref(), Some("not_found"));
    let (status, page) = gansu
        .submit(
            "/verify",
            &[
                ("certificate_last6", tail(ZHANG.1)),
                ("mobile", "138"),
                ("code", "1"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(outcome(&page).as_deref(), Some("invalid_input"));
    assert!(page.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn the_resend_form_sends_a_new_code_through_the_path_prefix() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let (_, page) = browser(&app, "")
        .submit(
            "/p/gs/resend",
            &[("mobile", ZHANG.2), ("certificate_last6", tail(ZHANG.1))],
        )
        .await;
    assert_eq!(outcome(&page).as_deref(), Some("sent"));
    assert_eq!(app.inbox(ZHANG.2).await.len(), 2);
}

#[tokio::test]
async fn forms_check_the_csrf_token_first_and_count_a_doubled_captcha_as_wrong() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let code = app.latest_code(ZHANG.2).await;
    let gansu = browser(&app, "gscainfo");
    let (_, page) = gansu.get("/verify").await;
    let captcha_id = hidden(&page, "captcha_id");
    let answer = app
        .get_json(&format!("/api/test/captchas/{captcha_id}"))
        .await["answer"]
        .as_str()
        .unwrap()
        .to_string();
    let mut form = vec![
        ("certificate_last6", tail(ZHANG.1).to_string()),
        ("mobile", ZHANG.2.to_string()),
        ("code", code.clone()),
        ("captcha_id", captcha_id.clone()),
        ("captcha_answer", answer.clone()),
        ("csrf_token", "forged".to_string()),
    ];
    let post = |form: Vec<(&'static str, String)>| {
        app.client
            .post(app.url("/verify"))
            .header("host", &gansu.host)
            .form(&form)
            .send()
    };
    let forged = post(form.clone()).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    form[5].1 = hidden(&page, "csrf_token");
    form.push(("captcha_answer", answer));
    let doubled = post(form).await.unwrap().text().await.unwrap();
    assert_eq!(outcome(&doubled).as_deref(), Some("captcha_invalid"));
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified",
        "no attempt was spent"
    );
}

#[tokio::test]
async fn pages_speak_the_language_asked_for_and_the_choice_sticks() {
    let app = TestApp::spawn().await;
    let page = |lang: Option<&str>, path: &str| {
        let mut request = app.client.get(app.url(path));
        if let Some(lang) = lang {
            request = request.header("accept-language", lang);
        }
        request.send()
    };
    let chinese = page(None, "/p/gs/verify")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(chinese.contains("备案短信核验"));
    let english = page(Some("en-US,en;q=0.9"), "/p/gs/verify")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(english.contains("Filing SMS verification"));
    assert!(english.contains("lang=\"en\""));
    let switched = page(None, "/p/gs/?lang=en").await.unwrap();
    let cookie = switched.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("lang=en"));
    let remembered = app
        .client
        .get(app.url("/p/gs/"))
        .header("cookie", "lang=en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(remembered.contains("Gansu"));
}

#[tokio::test]
async fn every_page_carries_the_security_headers_and_no_inline_script() {
    let app = TestApp::spawn().await;
    for path in ["/", "/p/gs/", "/p/gs/verify", "/p/gs/resend", "/nowhere"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.contains_key("referrer-policy"));
        assert!(headers.contains_key("x-request-id"));
        let page = response.text().await.unwrap();
        assert!(!page.contains("<script"), "{path}");
    }
}

#[tokio::test]
async fn the_captcha_picture_is_a_png_until_the_captcha_is_spent() {
    let app = TestApp::spawn().await;
    let (id, answer) = app.captcha().await;
    let picture = app
        .client
        .get(app.url(&format!("/captchas/{id}/image")))
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), StatusCode::OK);
    assert_eq!(picture.headers()["content-type"], "image/png");
    assert_eq!(&picture.bytes().await.unwrap()[1..4], b"PNG");
    app.post(
        "/api/v1/verifications",
        &serde_json::json!({ "province": "gs", "captcha_id": id, "captcha_answer": answer }),
    )
    .await;
    let spent = app
        .client
        .get(app.url(&format!("/captchas/{id}/image")))
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_hooks_are_absent_unless_asked_for() {
    let app = TestApp::spawn_with(Options {
        settings: beian_sms::config::Settings {
            test_hooks: false,
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    let response = app
        .client
        .get(app.url("/api/test/clock"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let health = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_per_address_limit_answers_rate_limited() {
    let app = TestApp::spawn_with(Options {
        settings: beian_sms::config::Settings {
            ip_rate_limit: 3,
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.client
                .get(app.url("/p/gs/"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    let page = app.client.get(app.url("/p/gs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        outcome(&page.text().await.unwrap()).as_deref(),
        Some("rate_limited")
    );
    let twin = app
        .client
        .post(app.url("/api/v1/captchas"))
        .send()
        .await
        .unwrap();
    assert_eq!(twin.status(), StatusCode::TOO_MANY_REQUESTS);
}
