//! The operator pages: sign-in, filings and their timelines, review.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::*;

const PASSWORD: &str = "correct horse battery";

/// The `name=value` of a cookie the response sets, and its attributes.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().unwrap();
        v.starts_with(&format!("{name}=")).then(|| {
            let (pair, attributes) = v.split_once(';').unwrap_or((v, ""));
            (pair.to_string(), attributes.to_string())
        })
    })
}

/// Signs in through the form; returns the session cookie, or the failed page.
async fn sign_in(
    app: &TestApp,
    username: &str,
    password: &str,
) -> Result<String, (StatusCode, String)> {
    let form = app.client.get(app.url("/ops/login")).send().await.unwrap();
    let (login_cookie, _) = set_cookie(&form, "beian_ops_login").expect("a sign-in cookie");
    let token = hidden(&form.text().await.unwrap(), "csrf_token");
    let response = app
        .client
        .post(app.url("/ops/login"))
        .header(COOKIE, login_cookie)
        .form(&[
            ("username", username),
            ("password", password),
            ("csrf_token", &token),
        ])
        .send()
        .await
        .unwrap();
    match set_cookie(&response, "beian_ops") {
        Some((session, _)) if response.status() == StatusCode::SEE_OTHER => Ok(session),
        _ => Err((response.status(), response.text().await.unwrap())),
    }
}

async fn operator(app: &TestApp) -> String {
    beian_sms::flows::operators::add(&app.core, "Zhou.Min", PASSWORD)
        .await
        .unwrap();
    sign_in(app, "zhou.min", PASSWORD).await.expect("signed in")
}

/// A GET with these cookies and headers.
async fn fetch(
    app: &TestApp,
    cookies: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.get(app.url(path)).header(COOKIE, cookies);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

async fn page(app: &TestApp, session: &str, path: &str) -> (StatusCode, String) {
    let response = fetch(app, session, path, &[]).await;
    (response.status(), response.text().await.unwrap())
}

async fn post_form(
    app: &TestApp,
    session: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let response = app
        .client
        .post(app.url(path))
        .header(COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn pages_need_a_sign_in_and_a_wrong_one_says_nothing_about_which_part() {
    let app = TestApp::spawn().await;
    let anonymous = app
        .client
        .get(app.url("/ops/filings"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[LOCATION], "/ops/login");

    // Every page and every form, with a forged session too, sends the
    // visitor to the sign-in page and changes nothing.
    let filing = app
        .submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    let id = filing["id"].as_str().unwrap();
    let isp: String = sqlx::query_scalar("SELECT id::text FROM isps")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let pages = [
        "/ops/filings".to_string(),
        format!("/ops/filings/{id}"),
        format!("/ops/filings/{id}?reveal=1"),
        "/ops/sms".to_string(),
        format!("/ops/handsets/{}", ZHANG.2),
        "/ops/isps".to_string(),
    ];
    let forms = [
        format!("/ops/filings/{id}/approve"),
        format!("/ops/filings/{id}/reject"),
        format!("/ops/handsets/{}/state", ZHANG.2),
        "/ops/isps".to_string(),
        format!("/ops/isps/{isp}/webhook"),
        "/ops/logout".to_string(),
    ];
    for cookie in ["", "beian_ops=forged"] {
        for path in &pages {
            let response = fetch(&app, cookie, path, &[]).await;
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "GET {path}");
            assert_eq!(response.headers()[LOCATION], "/ops/login", "GET {path}");
        }
        for path in &forms {
            let response = app
                .client
                .post(app.url(path))
                .header(COOKIE, cookie)
                .form(&[
                    ("csrf_token", "x"),
                    ("reason", "r"),
                    ("state", "blocking"),
                    ("name", "Forged ISP"),
                    ("webhook_url", "http://127.0.0.1:9/x"),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::SEE_OTHER, "POST {path}");
            assert_eq!(response.headers()[LOCATION], "/ops/login", "POST {path}");
        }
    }
    assert_eq!(app.filing(id).await["state"], "awaiting_review");
    let isps: i64 = sqlx::query_scalar("SELECT count(*) FROM isps")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(isps, 1, "no ISP was added");

    beian_sms::flows::operators::add(&app.core, "zhou.min", PASSWORD)
        .await
        .unwrap();
    let (status, wrong_password) = sign_in(&app, "zhou.min", "not the password")
        .await
        .unwrap_err();
    let (same_status, unknown_name) = sign_in(&app, "nobody", "not the password")
        .await
        .unwrap_err();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(same_status, status);
    assert!(wrong_password.contains("data-outcome=\"sign_in_failed\""));
    let comparable = |page: &str| page.replace(&hidden(page, "csrf_token"), "");
    assert_eq!(
        comparable(&wrong_password).replace("zhou.min", "nobody"),
        comparable(&unknown_name)
    );

    let short = beian_sms::flows::operators::add(&app.core, "wu.lei", "short").await;
    assert!(short.unwrap_err().to_string().contains("password"));
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_behind_https() {
    let app = TestApp::spawn().await;
    beian_sms::flows::operators::add(&app.core, "zhou.min", PASSWORD)
        .await
        .unwrap();
    let form = app
        .client
        .get(app.url("/ops/login"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let (login_cookie, _) = set_cookie(&form, "beian_ops_login").unwrap();
    let token = hidden(&form.text().await.unwrap(), "csrf_token");
    let response = app
        .client
        .post(app.url("/ops/login"))
        .header(COOKIE, login_cookie)
        .header("x-forwarded-proto", "https")
        .form(&[
            ("username", "zhou.min"),
            ("password", PASSWORD),
            ("csrf_token", token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (_, attributes) = set_cookie(&response, "beian_ops").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(attributes.contains(attribute), "{attributes}");
    }
    let forged = app
        .client
        .post(app.url("/ops/login"))
        .form(&[
            ("username", "zhou.min"),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        set_cookie(&forged, "beian_ops").is_none(),
        "no sign-in without the form's token"
    );
}

#[tokio::test]
async fn operators_find_filings_by_reference_domain_or_mobile() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let mut first = new_filing("gs", person(ZHANG), person(LI));
    first["isp_reference"] = json!("ACME-7781");
    first["websites"][0]["domains"] = json!(["tea-garden.cn"]);
    let first = app.submit(&first).await;
    let second = app.submit(&new_filing("tj", person(LI), person(LI))).await;

    let (status, all) = page(&app, &session, "/ops/filings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        all.contains(first["id"].as_str().unwrap()) && all.contains(second["id"].as_str().unwrap())
    );
    for query in [
        "?q=acme-77",
        "?q=tea-garden",
        "?q=%2B86%20138-0013-8000",
        "?province=gs",
    ] {
        let (_, found) = page(&app, &session, &format!("/ops/filings{query}")).await;
        assert!(found.contains(first["id"].as_str().unwrap()), "{query}");
        assert!(!found.contains(second["id"].as_str().unwrap()), "{query}");
    }

    // A filing that needed no SMS is found by its people's mobiles too.
    let beijing = app
        .submit(&new_filing("bj", person(ZHANG), person(ZHANG)))
        .await;
    let (_, by_mobile) = page(&app, &session, "/ops/filings?q=13800138000").await;
    assert!(by_mobile.contains(beijing["id"].as_str().unwrap()));
    assert!(by_mobile.contains(first["id"].as_str().unwrap()));

    // Another ISP's filing, found by the ISP filter.
    let other = app
        .post("/api/test/isps", &json!({ "name": "Lanzhou Net" }))
        .await;
    let submitted = app
        .client
        .post(app.url("/api/v1/filings"))
        .bearer_auth(other["api_key"].as_str().unwrap())
        .json(&new_filing("gs", person(ZHANG), person(LI)))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::CREATED);
    let other_id = other["id"].as_str().unwrap();
    let (_, by_isp) = page(&app, &session, &format!("/ops/filings?isp={other_id}")).await;
    assert!(by_isp.contains("Lanzhou Net</option>"));
    assert!(by_isp.contains(&format!("<option value=\"{other_id}\" selected>")));
    assert_eq!(by_isp.matches("<tr data-filing=").count(), 1, "{by_isp}");
    assert!(!by_isp.contains(first["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_filing_page_shows_its_timeline_and_masks_mobiles_until_asked() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let id = filing["id"].as_str().unwrap();
    let code = app.latest_code(ZHANG.2).await;
    app.verify("gs", "00000X", ZHANG.2, &code).await;

    let (_, masked) = page(&app, &session, &format!("/ops/filings/{id}")).await;
    assert!(masked.contains("138****8000") && !masked.contains(ZHANG.2));
    for kind in [
        "submitted",
        "sms_scheduled",
        "sms_delivered",
        "verify_attempt",
    ] {
        assert!(masked.contains(kind), "{kind} on the timeline");
    }
    assert!(!masked.contains(&code), "never the code");

    // Past the deadline with no sweep yet, the pages show it returned.
    sqlx::query("UPDATE virtual_clock SET now = now + interval '48 hours 1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (_, listing) = page(&app, &session, "/ops/filings").await;
    assert!(listing.contains("data-state=\"returned\""), "{listing}");
    let (_, late) = page(&app, &session, &format!("/ops/filings/{id}")).await;
    assert!(late.contains("data-state=\"returned\""));
    assert!(!masked.contains(ZHANG.1), "never the certificate number");
    let (_, revealed) = page(&app, &session, &format!("/ops/filings/{id}?reveal=1")).await;
    assert!(revealed.contains(ZHANG.2));
}

#[tokio::test]
async fn review_assigns_sequential_icp_numbers_or_rejects_with_a_reason() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let (_, listing) = page(&app, &session, "/ops/filings").await;
    let csrf = hidden(&listing, "csrf_token");
    let mut ids = Vec::new();
    for _ in 0..3 {
        let filing = app
            .submit(&new_filing("bj", person(ZHANG), person(LI)))
            .await;
        assert_eq!(filing["state"], "awaiting_review");
        ids.push(filing["id"].as_str().unwrap().to_string());
    }
    let pending = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;

    let year = beian_sms::clock::china_date(app.core.clock.now().await.unwrap())
        .format("%Y")
        .to_string();
    for (i, id) in ids.iter().take(2).enumerate() {
        // Done, the operator is sent to the filing page, so that reloading
        // it sends nothing again.
        let approved = app
            .client
            .post(app.url(&format!("/ops/filings/{id}/approve")))
            .header(COOKIE, &session)
            .form(&[("csrf_token", &csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(approved.status(), StatusCode::SEE_OTHER);
        let location = approved.headers()[LOCATION].to_str().unwrap().to_string();
        assert_eq!(location, format!("/ops/filings/{id}?done=approved"));
        let (status, shown) = page(&app, &session, &location).await;
        assert_eq!(status, StatusCode::OK);
        assert!(shown.contains("data-outcome=\"approved\""));
        let number = format!("京ICP备{year}{:06}号", i + 1);
        assert!(shown.contains(&number), "{number}");
        let api = app.filing(id).await;
        assert_eq!(api["state"], "approved");
        assert_eq!(api["icp_number"], number.as_str());
    }

    let (status, _) = post_form(
        &app,
        &session,
        &format!("/ops/filings/{}/reject", ids[2]),
        &[("csrf_token", &csrf), ("reason", " ")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post_form(
        &app,
        &session,
        &format!("/ops/filings/{}/reject", ids[2]),
        &[("csrf_token", &csrf), ("reason", "Domain not owned")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let api = app.filing(&ids[2]).await;
    assert_eq!(
        (api["state"].as_str(), api["reject_reason"].as_str()),
        (Some("rejected"), Some("Domain not owned"))
    );

    let pending_id = pending["id"].as_str().unwrap();
    let (status, shown) = post_form(
        &app,
        &session,
        &format!("/ops/filings/{pending_id}/approve"),
        &[("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(shown.contains("data-outcome=\"not_awaiting_review\""));
    let (status, _) = post_form(
        &app,
        &session,
        &format!("/ops/filings/{}/approve", ids[2]),
        &[("csrf_token", "forged")],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let (_, listing) = page(&app, &session, "/ops/filings").await;
    let csrf = hidden(&listing, "csrf_token");
    let response = app
        .client
        .post(app.url("/ops/logout"))
        .header(COOKIE, &session)
        .form(&[("csrf_token", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = app
        .client
        .get(app.url("/ops/filings"))
        .header(COOKIE, &session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the old cookie signs nobody in"
    );
}

#[tokio::test]
async fn the_sms_log_and_a_handset_show_every_message_and_switch_its_state() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    app.inbox(ZHANG.2).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );

    let (status, log) = page(&app, &session, "/ops/sms").await;
    assert_eq!(status, StatusCode::OK);
    for shown in [
        "106575000130",
        "106598051001",
        "中国移动",
        "data-kind=\"manual_resend\">申请重发",
        "data-kind=\"first\">首次发送",
        "data-state=\"delivered\">已送达",
    ] {
        assert!(log.contains(shown), "{shown} in the log");
    }
    let (_, only_li) = page(&app, &session, &format!("/ops/sms?mobile={}", LI.2)).await;
    assert!(only_li.contains("133****3000") && !only_li.contains("138****8000"));

    // Reading the inbox through the hook delivers what is due, as the job would.
    let code = app.latest_code(ZHANG.2).await;
    let (_, handset) = page(&app, &session, &format!("/ops/handsets/{}", ZHANG.2)).await;
    assert!(
        handset.contains(&code),
        "the phone shows the SMS as received"
    );
    let csrf = hidden(&handset, "csrf_token");
    let path = format!("/ops/handsets/{}/state", ZHANG.2);
    let (status, switched) = post_form(
        &app,
        &session,
        &path,
        &[("state", "no_signal"), ("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(switched.contains("data-state=\"no_signal\""));
    let (status, _) = post_form(
        &app,
        &session,
        &path,
        &[("state", "asleep"), ("csrf_token", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn operators_add_an_isp_whose_key_works_once_shown() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let (_, isps) = page(&app, &session, "/ops/isps").await;
    let csrf = hidden(&isps, "csrf_token");
    let (status, _) = post_form(
        &app,
        &session,
        "/ops/isps",
        &[
            ("name", "Acme ISP"),
            ("webhook_url", "ftp://x"),
            ("csrf_token", &csrf),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let refused = page_after(&app, &session, "ftp://x").await;
    assert!(
        refused.contains("id=\"isp_webhook_url_error\"")
            && refused.contains("value=\"Acme ISP\"")
            && refused.contains("aria-invalid=\"true\""),
        "the note stands beside the field and what was typed is kept: {refused}"
    );
    let (status, made) = post_form(
        &app,
        &session,
        "/ops/isps",
        &[
            ("name", "Acme ISP"),
            ("webhook_url", ""),
            ("csrf_token", &csrf),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let marker = "data-api-key>";
    let start = made.find(marker).expect("the key is shown") + marker.len();
    let key = made[start..].split('<').next().unwrap();
    let listed = app
        .client
        .get(app.url("/api/v1/filings"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let (_, again) = page(&app, &session, "/ops/isps").await;
    assert!(!again.contains(key), "the key is shown only once");
    assert!(again.contains("Acme ISP"));
    assert!(
        again.contains(&format!("<code data-key-hint>{}…</code>", &key[..8])),
        "the key's opening characters tell it apart"
    );

    // Its webhook URL: a wrong one is refused beside its field and kept as
    // typed; a right one is saved and its signing secret shown.
    let isp: String = sqlx::query_scalar("SELECT id::text FROM isps WHERE name = 'Acme ISP'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let path = format!("/ops/isps/{isp}/webhook");
    let (status, refused) = post_form(
        &app,
        &session,
        &path,
        &[
            ("webhook_url", "ftp://acme.example/x"),
            ("csrf_token", &csrf),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.contains(&format!("id=\"webhook_{isp}_error\"")));
    assert!(refused.contains("value=\"ftp://acme.example/x\""));
    let (status, saved) = post_form(
        &app,
        &session,
        &path,
        &[
            ("webhook_url", "http://127.0.0.1:9/hooks"),
            ("csrf_token", &csrf),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(saved.contains("data-outcome=\"webhook_saved\""));
    assert!(
        saved.contains("<code data-webhook-secret>whsec_"),
        "{saved}"
    );
}

#[tokio::test]
async fn operator_pages_speak_chinese_unless_english_is_asked_for_and_the_choice_sticks() {
    let app = TestApp::spawn().await;
    let session = operator(&app).await;
    let english_reader = [("accept-language", "en-GB,en;q=0.9")];

    let (_, chinese) = page(&app, &session, "/ops/filings").await;
    assert!(chinese.contains("<html lang=\"zh-CN\">"), "{chinese}");
    assert!(chinese.contains("<h1>备案列表</h1>"));
    assert!(chinese.contains("<option value=\"approved\">已通过</option>"));

    let english = fetch(&app, &session, "/ops/filings", &english_reader)
        .await
        .text()
        .await
        .unwrap();
    assert!(english.contains("<html lang=\"en\">"));
    assert!(english.contains("<h1>Filings</h1>"));
    assert!(english.contains("Submitted (China time)"));

    // The switch keeps the page's filters and sets a cookie that outlives it.
    let (_, filtered) = page(&app, &session, "/ops/filings?state=approved&kind=change").await;
    assert!(
        filtered.contains("href=\"/ops/filings?state=approved&#38;kind=change&#38;lang=en\""),
        "{filtered}"
    );
    let switched = fetch(&app, &session, "/ops/sms?lang=en", &[]).await;
    let (cookie, attributes) = set_cookie(&switched, "lang").expect("a language cookie");
    assert_eq!(cookie, "lang=en");
    assert!(attributes.contains("Path=/"), "{attributes}");
    assert!(switched.text().await.unwrap().contains("<h1>SMS log</h1>"));
    let (_, later) = page(&app, &format!("{session}; {cookie}"), "/ops/isps").await;
    assert!(later.contains("<h1>ISPs</h1>") && later.contains("Add an ISP"));

    // Refusals speak the operator's language too.
    let (status, expired) = post_form(&app, &session, "/ops/isps", &[("name", "Acme ISP")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(expired.contains("data-outcome=\"form_expired\"") && expired.contains("页面已过期"));
    let (status, missing) = page(
        &app,
        &session,
        &format!("/ops/filings/{}", uuid::Uuid::new_v4()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(missing.contains("没有这个备案"));

    let login = fetch(&app, "", "/ops/login", &english_reader)
        .await
        .text()
        .await
        .unwrap();
    assert!(login.contains("<h1>Sign in</h1>") && login.contains("Password"));
}

/// The ISP page after a refused add form with this webhook URL.
async fn page_after(app: &TestApp, session: &str, webhook_url: &str) -> String {
    let (_, isps) = page(app, session, "/ops/isps").await;
    let csrf = hidden(&isps, "csrf_token");
    let (_, shown) = post_form(
        app,
        session,
        "/ops/isps",
        &[
            ("name", "Acme ISP"),
            ("webhook_url", webhook_url),
            ("csrf_token", &csrf),
        ],
    )
    .await;
    shown
}
