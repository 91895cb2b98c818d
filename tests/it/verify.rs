//! Verifying codes through the JSON twin: every outcome, the deadline, and
//! the races that SQL must decide.

use serde_json::{Value, json};

use crate::helpers::*;
use beian_sms::config::Settings;

async fn filed(app: &TestApp) -> String {
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    filing["id"].as_str().unwrap().to_string()
}

/// The details of the filing's verify attempts, oldest first.
async fn attempts(app: &TestApp, id: &str) -> Vec<Value> {
    app.filing(id).await["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "verify_attempt")
        .map(|e| e["detail"].clone())
        .collect()
}

#[tokio::test]
async fn verifying_every_mobile_moves_the_filing_to_review() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;

    let code = app.latest_code(ZHANG.2).await;
    let first = app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await;
    assert_eq!(first["outcome"], "verified");
    assert_eq!(first["pending_mobiles"], json!(["133****3000"]));
    assert_eq!(app.filing(&id).await["state"], "awaiting_verification");

    let again = app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await;
    assert_eq!(again["outcome"], "not_found", "a used code is spent");

    let code = app.latest_code(LI.2).await;
    let second = app.verify("gs", tail(LI.1), LI.2, &code).await;
    assert_eq!(second["outcome"], "verified");
    assert_eq!(second["pending_mobiles"], json!([]));
    let filing = app.filing(&id).await;
    assert_eq!(filing["state"], "awaiting_review");
    assert!(
        filing["verifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["state"] == "verified")
    );
}

#[tokio::test]
async fn wrong_data_of_any_kind_reads_as_not_found() {
    let app = TestApp::spawn().await;
    filed(&app).await;
    let code = app.latest_code(ZHANG.2).await;
    let other_code = if code == "999999" {
        "999998".to_string()
    } else {
        format!("{:06}", code.parse::<u32>().unwrap() + 1)
    };
    for (certificate, mobile, code) in [
        (tail(ZHANG.1), ZHANG.2, other_code.as_str()),
        (tail(ZHANG.1), LI.2, code.as_str()),
        (tail(ZHANG.1), "13912345678", code.as_str()),
    ] {
        let outcome = app.verify("gs", certificate, mobile, code).await;
        assert_eq!(outcome, json!({ "outcome": "not_found" }));
    }
    // A Gansu code does nothing on the Tianjin portal.
    let outcome = app.verify("tj", tail(ZHANG.1), ZHANG.2, &code).await;
    assert_eq!(outcome["outcome"], "not_found");
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified"
    );
}

#[tokio::test]
async fn a_wrong_or_replayed_or_missing_captcha_spends_no_attempt() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    let code = app.latest_code(ZHANG.2).await;
    let (captcha_id, answer) = app.captcha().await;
    let form = |captcha_id: Option<&str>, answer: Option<&str>, certificate: &str| {
        json!({
            "province": "gs", "certificate_last6": certificate, "mobile": ZHANG.2, "code": code,
            "captcha_id": captcha_id, "captcha_answer": answer,
        })
    };
    let wrong = app
        .post(
            "/api/v1/verifications",
            &form(Some(&captcha_id), Some("WRONG"), "000000"),
        )
        .await;
    assert_eq!(wrong["outcome"], "captcha_invalid");
    let replayed = app
        .post(
            "/api/v1/verifications",
            &form(Some(&captcha_id), Some(&answer), "000000"),
        )
        .await;
    assert_eq!(
        replayed["outcome"], "captcha_invalid",
        "a captcha is spent by its first try"
    );
    let missing = app
        .post("/api/v1/verifications", &form(None, None, "000000"))
        .await;
    assert_eq!(missing["outcome"], "captcha_invalid");
    let (fresh_id, fresh_answer) = app.captcha().await;
    let lowercase = app
        .post(
            "/api/v1/verifications",
            &form(
                Some(&fresh_id),
                Some(&fresh_answer.to_lowercase()),
                tail(ZHANG.1),
            ),
        )
        .await;
    assert_eq!(lowercase["outcome"], "verified", "answers ignore case");
    let events = app.filing(&id).await["events"].clone();
    let wrong_certificates = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["outcome"] == "wrong_certificate")
        .count();
    assert_eq!(wrong_certificates, 0, "no attempt was counted");
}

#[tokio::test]
async fn malformed_fields_are_named_and_change_nothing() {
    let app = TestApp::spawn().await;
    filed(&app).await;
    let outcome = app.verify("gs", "12345", "1380013800", "12345").await;
    assert_eq!(outcome["outcome"], "invalid_input");
    let fields: Vec<&str> = outcome["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["certificate_last6", "mobile", "code"]);
    let long = "9".repeat(10_000);
    let outcome = app.verify("gs", tail(ZHANG.1), ZHANG.2, &long).await;
    assert_eq!(outcome["errors"][0]["field"], "code");
}

#[tokio::test]
async fn a_code_with_leading_zeros_is_kept_as_typed() {
    let app = TestApp::spawn().await;
    filed(&app).await;
    sqlx::query("UPDATE codes SET code = '000123' WHERE state = 'live' AND verification_id = (SELECT id FROM verifications WHERE mobile = $1)")
        .bind(ZHANG.2)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, "123").await["outcome"],
        "invalid_input"
    );
    let full_width = app
        .verify("gs", tail(ZHANG.1), ZHANG.2, "０００１２３")
        .await;
    assert_eq!(full_width["outcome"], "verified");
}

#[tokio::test]
async fn the_fifth_wrong_certificate_returns_the_filing_and_resends_do_not_reset_the_count() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    for _ in 0..3 {
        let code = app.latest_code(ZHANG.2).await;
        assert_eq!(
            app.verify("gs", "00000X", ZHANG.2, &code).await["outcome"],
            "not_found"
        );
    }
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    let code = app.latest_code(ZHANG.2).await;
    assert_eq!(
        app.verify("gs", "00000X", ZHANG.2, &code).await["outcome"],
        "not_found"
    );
    let fifth = app.verify("gs", "00000X", ZHANG.2, &code).await;
    assert_eq!(
        fifth,
        json!({ "outcome": "failed_returned", "reason": "certificate_attempts_exceeded" })
    );

    let filing = app.filing(&id).await;
    assert_eq!(filing["state"], "returned");
    assert_eq!(filing["return_reason"], "certificate_attempts_exceeded");
    // The other person's code ended with the filing.
    let li_code = app.latest_code(LI.2).await;
    let late = app.verify("gs", tail(LI.1), LI.2, &li_code).await;
    assert_eq!(late["outcome"], "failed_returned");
}

#[tokio::test]
async fn the_deadline_holds_to_the_second_whether_or_not_the_sweep_ran() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    app.advance(48 * 3600 - 1).await;
    let code = app.latest_code(ZHANG.2).await;
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified"
    );

    // Moved without the hook, so no sweep runs: the request itself must see the deadline.
    sqlx::query("UPDATE virtual_clock SET now = now + interval '2 seconds'")
        .execute(&app.pool)
        .await
        .unwrap();
    let code = app.latest_code(LI.2).await;
    let late = app.verify("gs", tail(LI.1), LI.2, &code).await;
    assert_eq!(
        late,
        json!({ "outcome": "failed_returned", "reason": "verification_expired" })
    );
    let filing = app.filing(&id).await;
    assert_eq!(filing["state"], "returned");
    assert_eq!(filing["return_reason"], "verification_expired");

    // Attempts too late to count are on the timeline all the same.
    let again = app.verify("gs", "99999X", LI.2, &code).await;
    assert_eq!(again["outcome"], "not_found");
    assert_eq!(
        attempts(&app, &id).await,
        [
            json!({ "mobile": "138****8000", "outcome": "verified" }),
            json!({ "mobile": "133****3000", "outcome": "after_deadline", "certificate_matched": true }),
            json!({ "mobile": "133****3000", "outcome": "after_return", "certificate_matched": false }),
        ]
    );
}

#[tokio::test]
async fn listings_apply_the_deadline_whether_or_not_the_sweep_ran() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    // Moved without the hook, so no sweep runs.
    sqlx::query("UPDATE virtual_clock SET now = now + interval '48 hours 1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let listed = app.list_filings(&app.isp_key).await;
    let filing = &listed["filings"][0];
    assert_eq!(filing["id"], id.as_str());
    assert_eq!(filing["state"], "returned", "{listed}");
    assert_eq!(filing["return_reason"], "verification_expired");
}

#[tokio::test]
async fn the_clock_hook_answers_once_filings_that_requests_held_are_returned() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    app.advance(48 * 3600 - 10).await;
    // A request holds the filing while the clock passes its deadline.
    let held = app.hold_filing(&id).await;
    let mut hook = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/api/test/clock"));
        async move {
            let moved = client
                .post(url)
                .json(&json!({ "advance_seconds": 20 }))
                .send()
                .await
                .unwrap();
            assert!(moved.status().is_success());
        }
    });
    let early = tokio::time::timeout(std::time::Duration::from_millis(500), &mut hook).await;
    assert!(
        early.is_err(),
        "the hook answered while the filing was held"
    );
    held.commit().await.unwrap();
    hook.await.unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM filings WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(state, "returned");
}

#[tokio::test]
async fn the_sweep_returns_filings_past_their_deadline() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    app.advance(48 * 3600).await;
    let filing = app.filing(&id).await;
    assert_eq!(filing["state"], "returned");
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM codes WHERE state = 'live'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(live, 0);
}

#[tokio::test]
async fn guessing_codes_for_one_mobile_is_throttled() {
    let app = TestApp::spawn_with(Options {
        settings: Settings {
            verify_attempts: 3,
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    filed(&app).await;
    for guess in ["111111", "222222", "333333"] {
        assert_eq!(
            app.verify("gs", tail(ZHANG.1), ZHANG.2, guess).await["outcome"],
            "not_found"
        );
    }
    let code = app.latest_code(ZHANG.2).await;
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "rate_limited"
    );
    app.advance(3600).await;
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_verifies_of_one_code_verify_once() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    let code = app.latest_code(ZHANG.2).await;
    let mut forms = Vec::new();
    for _ in 0..16 {
        let (captcha_id, captcha_answer) = app.captcha().await;
        forms.push(json!({
            "province": "gs", "certificate_last6": tail(ZHANG.1), "mobile": ZHANG.2, "code": code,
            "captcha_id": captcha_id, "captcha_answer": captcha_answer,
        }));
    }
    let outcomes = futures_join(&app, "/api/v1/verifications", forms).await;
    let verified = outcomes
        .iter()
        .filter(|o| o["outcome"] == "verified")
        .count();
    assert_eq!(verified, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| o["outcome"] == "verified" || o["outcome"] == "not_found")
    );
    let verifications = app.filing(&id).await["verifications"].clone();
    assert_eq!(verifications[0]["state"], "verified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_wrong_certificates_return_the_filing_once() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    let code = app.latest_code(ZHANG.2).await;
    let mut forms = Vec::new();
    for _ in 0..10 {
        let (captcha_id, captcha_answer) = app.captcha().await;
        forms.push(json!({
            "province": "gs", "certificate_last6": "99999X", "mobile": ZHANG.2, "code": code,
            "captcha_id": captcha_id, "captcha_answer": captcha_answer,
        }));
    }
    let outcomes = futures_join(&app, "/api/v1/verifications", forms).await;
    let returned = outcomes
        .iter()
        .filter(|o| o["outcome"] == "failed_returned")
        .count();
    assert_eq!(returned, 1, "{outcomes:?}");
    let events = app.filing(&id).await["events"].clone();
    let returns = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["detail"]["state"] == "returned")
        .count();
    assert_eq!(returns, 1);
}

/// Sends every body at once and collects the answers.
async fn futures_join(app: &TestApp, path: &str, bodies: Vec<Value>) -> Vec<Value> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| {
            let client = app.client.clone();
            let url = app.url(path);
            tokio::spawn(async move {
                client
                    .post(url)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    outcomes
}

#[tokio::test]
async fn at_the_deadline_itself_the_code_no_longer_works() {
    let app = TestApp::spawn().await;
    let id = filed(&app).await;
    let code = app.latest_code(ZHANG.2).await;
    sqlx::query("UPDATE virtual_clock SET now = now + interval '48 hours'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        app.filing(&id).await["state"],
        "returned",
        "reading the filing enforces the deadline too"
    );
    let late = app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await;
    assert_eq!(late["outcome"], "failed_returned");
}

#[tokio::test]
async fn a_twin_field_of_the_wrong_type_is_named() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/verifications"))
        .json(&json!({ "province": "gs", "code": 123456 }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["field"], "code");
}

/// A verify and a resend for one mobile wait for a filing that something
/// else holds, the resend first: the code the verify typed is replaced by the
/// time it has the filing, so it reads as not found and is on the timeline
/// all the same, as too late to count: a wrong certificate typed with it is
/// not a certificate failure. The new code then verifies.
#[tokio::test]
async fn an_attempt_whose_code_was_replaced_while_it_waited_is_on_the_timeline() {
    for (typed_tail, matched) in [(tail(ZHANG.1), true), ("99999X", false)] {
        let app = TestApp::spawn().await;
        let id = filed(&app).await;
        let code = app.latest_code(ZHANG.2).await;

        let held = app.hold_filing(&id).await;
        let mut requests = Vec::new();
        for (path, mut form) in [
            (
                "/api/v1/resends",
                json!({ "province": "gs", "mobile": ZHANG.2, "certificate_last6": tail(ZHANG.1) }),
            ),
            (
                "/api/v1/verifications",
                json!({ "province": "gs", "mobile": ZHANG.2, "certificate_last6": typed_tail,
                        "code": code }),
            ),
        ] {
            let (captcha_id, captcha_answer) = app.captcha().await;
            form["captcha_id"] = json!(captcha_id);
            form["captcha_answer"] = json!(captcha_answer);
            let request = app.client.post(app.url(path)).json(&form);
            let queued = app.row_lock_waits().await + 1;
            requests.push(tokio::spawn(async move {
                request.send().await.unwrap().json::<Value>().await.unwrap()
            }));
            // Each waits for the filing before the next is sent, so the
            // resend has it first.
            eventually("the request waiting for the filing", || async {
                app.row_lock_waits().await == queued
            })
            .await;
        }
        held.commit().await.unwrap();
        let mut answers = Vec::new();
        for request in requests {
            answers.push(request.await.unwrap()["outcome"].clone());
        }
        assert_eq!(answers, [json!("sent"), json!("not_found")]);

        assert_eq!(
            attempts(&app, &id).await,
            [
                json!({ "mobile": "138****8000", "outcome": "code_no_longer_live",
                     "certificate_matched": matched })
            ]
        );
        let failures: i32 =
            sqlx::query_scalar("SELECT certificate_failures FROM verifications WHERE mobile = $1")
                .bind(ZHANG.2)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(failures, 0, "certificate matched: {matched}");
        eventually("the new code on the handset", || async {
            app.latest_code(ZHANG.2).await != code
        })
        .await;
        let new_code = app.latest_code(ZHANG.2).await;
        let verified = app.verify("gs", tail(ZHANG.1), ZHANG.2, &new_code).await;
        assert_eq!(verified["outcome"], "verified");
    }
}
