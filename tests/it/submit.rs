//! Submitting filings: who gets a code, what the SMS says, and bad input.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;
use beian_sms::config::Settings;

/// Each verification's masked mobile with its roles.
type Verifiers = Vec<(String, Vec<String>)>;

fn roles(filing: &Value) -> Verifiers {
    filing["verifications"]
        .as_array()
        .expect("verifications")
        .iter()
        .map(|v| {
            let roles = v["roles"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect();
            (v["mobile"].as_str().unwrap().to_string(), roles)
        })
        .collect()
}

#[tokio::test]
async fn a_new_filing_sends_one_code_to_each_responsible_person() {
    let app = TestApp::spawn().await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;

    assert_eq!(filing["state"], "awaiting_verification");
    assert_eq!(
        roles(&filing),
        vec![
            ("138****8000".to_string(), vec!["subject".to_string()]),
            ("133****3000".to_string(), vec!["website".to_string()]),
        ]
    );
    let submitted =
        chrono::DateTime::parse_from_rfc3339(filing["submitted_at"].as_str().unwrap()).unwrap();
    let deadline =
        chrono::DateTime::parse_from_rfc3339(filing["deadline"].as_str().unwrap()).unwrap();
    assert_eq!(deadline - submitted, chrono::Duration::hours(48));

    let zhang = app.inbox(ZHANG.2).await;
    assert_eq!(zhang.len(), 1);
    assert_eq!(zhang[0]["sender"], "106575000130", "138 is China Mobile");
    let code = zhang[0]["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    let body = zhang[0]["body"].as_str().unwrap();
    assert!(body.contains(code), "{body}");
    assert!(body.contains("gscainfo.miitbeian.gov.cn"), "{body}");
    assert!(body.contains("UTC+8"), "{body}");

    let li = app.inbox(LI.2).await;
    assert_eq!(li.len(), 1);
    assert_eq!(li[0]["sender"], "106598051001", "133 is China Telecom");
    assert_ne!(li[0]["code"], zhang[0]["code"]);
}

#[tokio::test]
async fn one_person_in_both_roles_gets_one_code() {
    let app = TestApp::spawn().await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(ZHANG)))
        .await;
    assert_eq!(
        roles(&filing),
        vec![(
            "138****8000".to_string(),
            vec!["subject".to_string(), "website".to_string()]
        )]
    );
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1);
}

/// A filing of `kind` with the given changed flags, subject ZHANG and one website LI.
fn filing_of(kind: &str, subject_changed: bool, website_changed: bool) -> Value {
    let mut filing = new_filing("gs", person(ZHANG), person(LI));
    filing["kind"] = json!(kind);
    filing["subject"]["changed"] = json!(subject_changed);
    filing["websites"][0]["changed"] = json!(website_changed);
    filing
}

#[tokio::test]
async fn each_kind_of_filing_verifies_the_people_the_rules_name() {
    let app = TestApp::spawn().await;
    let subject = || vec![("138****8000".to_string(), vec!["subject".to_string()])];
    let website = || vec![("133****3000".to_string(), vec!["website".to_string()])];
    let cases: Vec<(&str, bool, bool, Verifiers)> = vec![
        ("new_website", false, false, website()),
        ("new_access", false, false, website()),
        ("change", true, false, subject()),
        ("change", false, true, website()),
        ("change", true, true, [subject(), website()].concat()),
        ("change", false, false, vec![]),
        ("logout_subject", false, false, vec![]),
        ("logout_website", false, false, vec![]),
        ("cancel_access", false, false, vec![]),
    ];
    for (kind, subject_changed, website_changed, expected) in cases {
        let filing = app
            .submit(&filing_of(kind, subject_changed, website_changed))
            .await;
        assert_eq!(
            roles(&filing),
            expected,
            "{kind} subject_changed={subject_changed} website_changed={website_changed}"
        );
        let state = if expected.is_empty() {
            "awaiting_review"
        } else {
            "awaiting_verification"
        };
        assert_eq!(filing["state"], state, "{kind}");
    }
}

#[tokio::test]
async fn logout_filings_are_verified_when_the_setting_says_so() {
    let app = TestApp::spawn_with(Options {
        settings: Settings {
            verify_logouts: true,
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    let logout_subject = app.submit(&filing_of("logout_subject", false, false)).await;
    assert_eq!(
        roles(&logout_subject),
        vec![("138****8000".to_string(), vec!["subject".to_string()])]
    );
    for kind in ["logout_website", "cancel_access"] {
        let filing = app.submit(&filing_of(kind, false, false)).await;
        assert_eq!(
            roles(&filing),
            vec![("133****3000".to_string(), vec!["website".to_string()])],
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_province_outside_the_pilot_goes_straight_to_review() {
    let app = TestApp::spawn().await;
    let filing = app
        .submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    assert_eq!(filing["state"], "awaiting_review");
    assert_eq!(filing["verifications"], json!([]));
    assert!(app.inbox(ZHANG.2).await.is_empty());
}

#[tokio::test]
async fn one_mobile_with_two_certificate_numbers_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let other = ("Zhang Wei", "620102198001019999", ZHANG.2);
    let (status, body) = app
        .submit_raw(&new_filing("gs", person(ZHANG), person(other)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["error"]["field"],
        "websites[0].responsible_person.certificate_number"
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM filings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
    assert!(app.inbox(ZHANG.2).await.is_empty());
}

#[tokio::test]
async fn input_is_normalised_as_people_type_it() {
    let app = TestApp::spawn().await;
    let subject = json!({ "name": " Zhang Wei ", "certificate_number": "６２０１０２１９８００１０１１２３ｘ", "mobile": "１３８００１３８０００" });
    let website = json!({ "name": "Li Na", "certificate_number": "62010219900202567x", "mobile": "+86 133-0013-3000" });
    let filing = app.submit(&new_filing("gs", subject, website)).await;
    assert_eq!(
        filing["subject"]["responsible_person"]["mobile"],
        "13800138000"
    );
    assert_eq!(
        filing["subject"]["responsible_person"]["certificate_number"],
        "62010219800101123X"
    );
    assert_eq!(
        filing["websites"][0]["responsible_person"]["mobile"],
        "13300133000"
    );
    assert_eq!(app.inbox("13300133000").await.len(), 1);

    // The filer types the lowercase x, too.
    let code = app.latest_code("13300133000").await;
    let outcome = app.verify("gs", "02567x", "0086 13300133000", &code).await;
    assert_eq!(outcome["outcome"], "verified", "{outcome}");
}

#[tokio::test]
async fn bad_requests_get_a_clear_error_naming_the_field() {
    let app = TestApp::spawn().await;
    let send = |body: String| {
        app.client
            .post(app.url("/api/v1/filings"))
            .bearer_auth(&app.isp_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let malformed = send("{\"province\": ".into()).await.unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");

    let wrong_type = send(json!({ "province": 7 }).to_string()).await.unwrap();
    assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = wrong_type.json().await.unwrap();
    assert_eq!(body["error"]["field"], "province");

    let mut filing = new_filing("gs", person(ZHANG), person(LI));
    filing["websites"][0]["responsible_person"]["mobile"] = json!("1330013300");
    filing["subject"]["responsible_person"]["name"] = json!("x".repeat(10_000));
    let (status, body) = app.submit_raw(&filing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["error"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "subject.responsible_person.name",
            "websites[0].responsible_person.mobile"
        ]
    );

    let mut filing = new_filing("zz", person(ZHANG), person(LI));
    filing["kind"] = json!("new_thing");
    let (status, body) = app.submit_raw(&filing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "province");
    assert_eq!(body["error"]["errors"][1]["field"], "kind");

    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM filings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0, "bad input changes nothing");
}

#[tokio::test]
async fn the_api_needs_a_key_and_shows_an_isp_only_its_own_filings() {
    let app = TestApp::spawn().await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let id = filing["id"].as_str().unwrap();

    let anonymous = app
        .client
        .get(app.url(&format!("/api/v1/filings/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong_key = app
        .client
        .get(app.url("/api/v1/filings"))
        .bearer_auth("bsk_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), StatusCode::UNAUTHORIZED);

    let other = app
        .post("/api/test/isps", &json!({ "name": "Other ISP" }))
        .await;
    let other_key = other["api_key"].as_str().unwrap();
    let theirs = app
        .client
        .get(app.url(&format!("/api/v1/filings/{id}")))
        .bearer_auth(other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    let listed = app.list_filings(other_key).await;
    assert_eq!(listed["filings"], json!([]));

    let unknown = app
        .client
        .get(app.url("/api/v1/filings/5d7c1f9e-0000-4000-8000-000000000000"))
        .bearer_auth(&app.isp_key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let shown = app.filing(id).await;
    let kinds: Vec<&str> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds[0], "submitted");
    assert!(kinds.contains(&"sms_scheduled"));
}

#[tokio::test]
async fn filings_are_listed_newest_first_with_filters() {
    let app = TestApp::spawn().await;
    let first = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let second = app
        .submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    let get = |query: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url(&format!("/api/v1/filings{query}")))
                .bearer_auth(&app.isp_key)
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (_, all) = get("").await;
    let ids: Vec<&Value> = all["filings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["id"])
        .collect();
    assert_eq!(ids, [&second["id"], &first["id"]]);
    let (_, pending) = get("?state=awaiting_verification&province=gs").await;
    assert_eq!(pending["filings"].as_array().unwrap().len(), 1);
    assert_eq!(pending["filings"][0]["id"], first["id"]);
    let (_, paged) = get("?limit=1").await;
    assert_eq!(paged["filings"][0]["id"], second["id"]);
    assert!(paged["next_before"].is_i64());
    let (status, bad) = get("?state=lost").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["error"]["field"], "state");
}

#[tokio::test]
async fn a_retried_submission_with_its_idempotency_key_makes_nothing_twice() {
    let app = TestApp::spawn().await;
    let filing = new_filing("gs", person(ZHANG), person(LI));
    let send = |body: &Value| {
        app.client
            .post(app.url("/api/v1/filings"))
            .bearer_auth(&app.isp_key)
            .header("Idempotency-Key", "retry-1")
            .json(body)
            .send()
    };
    let first: Value = send(&filing).await.unwrap().json().await.unwrap();
    let again = send(&filing).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1);

    let mut changed = filing.clone();
    changed["isp_reference"] = json!("ISP-other");
    let conflict = send(&changed).await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn no_two_live_codes_are_equal() {
    let app = TestApp::spawn().await;
    for i in 0..150 {
        let subject = (
            "Zhou Jie",
            "620102198001011234",
            &*format!("139{:08}", i * 2),
        );
        let website = (
            "Wu Min",
            "62010219900202567X",
            &*format!("139{:08}", i * 2 + 1),
        );
        app.submit(&new_filing("gs", person(subject), person(website)))
            .await;
    }
    let (live, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT code) FROM codes WHERE state = 'live'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(live, 300);
    assert_eq!(distinct, 300);
}

#[tokio::test]
async fn the_first_sms_arrives_after_the_configured_delay() {
    let app = TestApp::spawn_with(Options::sms_delay(300)).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    assert!(app.inbox(ZHANG.2).await.is_empty());
    app.advance(299).await;
    assert!(app.inbox(ZHANG.2).await.is_empty());
    app.advance(1).await;
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1);
}

#[tokio::test]
async fn handsets_without_signal_hold_and_blocking_ones_drop_their_sms() {
    let app = TestApp::spawn_with(Options {
        settings: Settings {
            sms_delay: chrono::Duration::seconds(60),
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    let set = |mobile: &str, state: &str| {
        app.client
            .put(app.url(&format!("/api/test/handsets/{mobile}")))
            .json(&json!({ "state": state }))
            .send()
    };
    assert_eq!(
        set(ZHANG.2, "no_signal").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        set(LI.2, "blocking").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        set(LI.2, "asleep").await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    app.advance(60).await;
    assert!(
        app.inbox(ZHANG.2).await.is_empty(),
        "held while there is no signal"
    );
    assert!(
        app.inbox(LI.2).await.is_empty(),
        "dropped by the blocking app"
    );

    set(ZHANG.2, "online").await.unwrap();
    set(LI.2, "online").await.unwrap();
    assert_eq!(
        app.inbox(ZHANG.2).await.len(),
        1,
        "delivered once back online"
    );
    assert!(
        app.inbox(LI.2).await.is_empty(),
        "a dropped SMS stays dropped"
    );
}

/// Two filings naming the same two new mobiles, in opposite roles, submitted
/// at the same moment: both are accepted, neither waits on the other for
/// ever. Twenty pairs, each with mobiles never seen before.
#[tokio::test]
async fn filings_naming_the_same_new_mobiles_in_other_orders_are_both_accepted() {
    let app = TestApp::spawn().await;
    for pair in 0..20 {
        let first = format!("1390001{:04}", 2 * pair);
        let second = format!("1390001{:04}", 2 * pair + 1);
        let one = ("Sun Li", ZHANG.1, first.as_str());
        let other = ("Qian Yu", LI.1, second.as_str());
        let forward = new_filing("gs", person(one), person(other));
        let backward = new_filing("gs", person(other), person(one));
        let (a, b) = tokio::join!(app.submit_raw(&forward), app.submit_raw(&backward));
        assert_eq!(
            (a.0, b.0),
            (StatusCode::CREATED, StatusCode::CREATED),
            "{a:?} {b:?}"
        );
    }
}

/// Puts a handset in `state` through the test hook.
async fn set_handset(app: &TestApp, mobile: &str, state: &str) {
    let response = app
        .client
        .put(app.url(&format!("/api/test/handsets/{mobile}")))
        .json(&json!({ "state": state }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sms_held_together_arrive_in_the_order_they_were_sent() {
    let app = TestApp::spawn().await;
    set_handset(&app, ZHANG.2, "no_signal").await;
    for _ in 0..3 {
        app.submit(&new_filing("gs", person(ZHANG), person(ZHANG)))
            .await;
        app.advance(10).await;
    }
    let sent: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM sms WHERE mobile = $1 ORDER BY seq")
        .bind(ZHANG.2)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(sent.len(), 3);
    // Rows are not stored in the order they were written once they have
    // been changed: here the first one, rewritten unchanged, goes last. And
    // with the table's statistics read, as autovacuum would, PostgreSQL reads
    // so small a table in storage order rather than through an index.
    sqlx::query("UPDATE sms SET body = body WHERE id = $1")
        .bind(sent[0])
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("ANALYZE sms").execute(&app.pool).await.unwrap();
    let stored: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM sms WHERE mobile = $1 ORDER BY ctid")
            .bind(ZHANG.2)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_ne!(
        stored, sent,
        "the storage order differs from the sending order"
    );

    set_handset(&app, ZHANG.2, "online").await;
    let arrived: Vec<Uuid> = app
        .inbox(ZHANG.2)
        .await
        .iter()
        .map(|m| m["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(arrived, sent);
}

/// A handset coming back online while its SMS are being handed out: every
/// SMS reaches it, none stays held for a handset that has signal.
#[tokio::test]
async fn an_sms_due_as_its_handset_comes_back_online_is_not_left_held() {
    let app = TestApp::spawn().await;
    for round in 0..20 {
        let mobile = format!("1390000{round:04}");
        let filer = ("Zhao Lei", ZHANG.1, mobile.as_str());
        set_handset(&app, &mobile, "no_signal").await;
        app.submit(&new_filing("gs", person(filer), person(filer)))
            .await;
        eventually("the first SMS held", || async {
            let held: i64 =
                sqlx::query_scalar("SELECT count(*) FROM sms WHERE mobile = $1 AND state = 'held'")
                    .bind(&mobile)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
            held == 1
        })
        .await;
        app.advance(300).await;
        // The resend wakes the delivery job, which runs as the handset
        // comes back.
        assert_eq!(
            app.resend("gs", &mobile, tail(ZHANG.1)).await["outcome"],
            "sent"
        );
        set_handset(&app, &mobile, "online").await;
        eventually("both SMS on the handset", || async {
            app.inbox(&mobile).await.len() == 2
        })
        .await;
    }
}

#[tokio::test]
async fn an_sms_to_a_number_no_carrier_serves_is_recorded_as_undeliverable() {
    let app = TestApp::spawn().await;
    let nowhere = ("Zheng Hao", "620102198001011234", "10012345678");
    let filing = app
        .submit(&new_filing("gs", person(nowhere), person(LI)))
        .await;
    assert!(app.inbox(nowhere.2).await.is_empty());
    let shown = app.filing(filing["id"].as_str().unwrap()).await;
    let undeliverable = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sms_undeliverable")
        .count();
    assert_eq!(undeliverable, 1);
    let state: String = sqlx::query_scalar("SELECT state FROM sms WHERE mobile = $1")
        .bind(nowhere.2)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(state, "undeliverable");
}

#[tokio::test]
async fn control_characters_and_huge_bodies_are_refused_by_name() {
    let app = TestApp::spawn().await;
    let mut filing = new_filing("gs", person(ZHANG), person(LI));
    filing["subject"]["responsible_person"]["name"] = json!("Zhang\u{0}Wei");
    let (status, body) = app.submit_raw(&filing).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["field"], "subject.responsible_person.name");

    let huge = "x".repeat(3 * 1024 * 1024);
    let response = app
        .client
        .post(app.url("/api/v1/filings"))
        .header("authorization", format!("bearer {}", app.isp_key))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "a lower-case bearer scheme is accepted too"
    );
}
