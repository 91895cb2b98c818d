//! The test hooks an ISP's suite relies on: waiting for an SMS, repeatable
//! codes, and resetting.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use beian_sms::config::Settings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_waiting_for_an_sms_is_answered_when_it_arrives() {
    let app = TestApp::spawn_with(Options::sms_delay(300)).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let waiting = {
        let client = app.client.clone();
        let url = app.url(&format!("/api/test/handsets/{}/messages?wait=30", ZHANG.2));
        tokio::spawn(async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        })
    };
    app.advance(300).await;
    let arrived = waiting.await.unwrap();
    assert_eq!(
        arrived.len(),
        1,
        "answered with the SMS, not after the wait ran out empty"
    );

    let first = arrived[0]["id"].as_str().unwrap().to_string();
    let newer = app
        .get_json(&format!(
            "/api/test/handsets/{}/messages?after={first}&wait=0",
            ZHANG.2
        ))
        .await;
    assert_eq!(newer, json!([]));
    let waiting = {
        let client = app.client.clone();
        let url = app.url(&format!(
            "/api/test/handsets/{}/messages?after={first}&wait=30",
            ZHANG.2
        ));
        tokio::spawn(async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Vec<Value>>()
                .await
                .unwrap()
        })
    };
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    let newer = waiting.await.unwrap();
    assert_eq!(newer.len(), 1);
    assert_ne!(newer[0]["id"].as_str().unwrap(), first);
}

#[tokio::test]
async fn waiting_takes_at_most_thirty_seconds_and_a_known_message() {
    let app = TestApp::spawn().await;
    let get = |query: &str| {
        app.client
            .get(app.url(&format!("/api/test/handsets/{}/messages{query}", ZHANG.2)))
            .send()
    };
    let too_long = get("?wait=31").await.unwrap();
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        too_long.json::<Value>().await.unwrap()["error"]["field"],
        "wait"
    );
    let unknown = get("?after=5d7c1f9e-0000-4000-8000-000000000000")
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        unknown.json::<Value>().await.unwrap()["error"]["field"],
        "after"
    );
}

/// The codes and captcha answers of one scripted run on a fresh database.
async fn scripted_run(seed: u64) -> (Vec<String>, Vec<String>) {
    let app = TestApp::spawn_with(Options {
        settings: Settings {
            seed: Some(seed),
            ..Options::default().settings
        },
        ..Options::default()
    })
    .await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let (_, first_answer) = app.captcha().await;
    app.resend("gs", LI.2, tail(LI.1)).await;
    let (_, second_answer) = app.captcha().await;
    let mut codes = Vec::new();
    for mobile in [ZHANG.2, LI.2] {
        codes.extend(
            app.inbox(mobile)
                .await
                .iter()
                .map(|m| m["code"].as_str().unwrap().to_string()),
        );
    }
    (codes, vec![first_answer, second_answer])
}

#[tokio::test]
async fn the_same_seed_and_requests_give_the_same_codes_and_captchas() {
    let first = scripted_run(42).await;
    let again = scripted_run(42).await;
    assert_eq!(first.0.len(), 3);
    assert_eq!(first, again);
    let other = scripted_run(43).await;
    assert_ne!(first.0, other.0);
}

#[tokio::test]
async fn reset_empties_everything_and_restarts_the_clock() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    app.advance(3600).await;
    let before = app.get_json("/api/test/clock").await["now"]
        .as_str()
        .unwrap()
        .to_string();
    let reset = app
        .client
        .post(app.url("/api/test/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert!(app.inbox(ZHANG.2).await.is_empty());
    let filings: i64 = sqlx::query_scalar("SELECT count(*) FROM filings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(filings, 0);
    let after = app.get_json("/api/test/clock").await["now"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(after < before, "the clock starts again from the real time");
    let old_key = app
        .client
        .get(app.url("/api/v1/filings"))
        .bearer_auth(&app.isp_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old_key.status(),
        StatusCode::UNAUTHORIZED,
        "ISPs are gone too"
    );
}

/// The clock as the hook reads it.
async fn clock_now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    app.get_json("/api/test/clock").await["now"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_never_goes_back_when_set_from_several_requests_at_once() {
    let app = TestApp::spawn().await;
    for round in 0..10 {
        let start = clock_now(&app).await;
        // Eight requests each set a different later time, all read against
        // the same starting time.
        let mut requests = tokio::task::JoinSet::new();
        for i in 1..=8 {
            let to = start + chrono::Duration::minutes(10 * ((i * 5 + round) % 8 + 1));
            let (client, url) = (app.client.clone(), app.url("/api/test/clock"));
            requests.spawn(async move {
                let response = client.post(url).json(&json!({ "set": to })).send();
                (response.await.unwrap(), to)
            });
        }
        let answers = requests.join_all().await;
        let mut latest_answered = start;
        for (response, to) in answers {
            match response.status() {
                StatusCode::OK => latest_answered = latest_answered.max(to),
                StatusCode::UNPROCESSABLE_ENTITY => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"]["field"], "set", "{body}");
                }
                other => panic!("setting the clock answered {other}"),
            }
        }
        assert_eq!(
            clock_now(&app).await,
            latest_answered,
            "round {round}: the clock stands at the latest time a request was told"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_the_clock_while_it_is_reset_never_fails() {
    let app = TestApp::spawn().await;
    for _ in 0..15 {
        let advance = app
            .client
            .post(app.url("/api/test/clock"))
            .json(&json!({ "advance_seconds": 60 }))
            .send();
        let reset = app.client.post(app.url("/api/test/reset")).send();
        let (advance, reset) = tokio::join!(advance, reset);
        assert_eq!(advance.unwrap().status(), StatusCode::OK);
        assert_eq!(reset.unwrap().status(), StatusCode::NO_CONTENT);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advances_racing_near_the_limit_never_take_the_clock_past_it() {
    let app = TestApp::spawn().await;
    let limit: chrono::DateTime<chrono::Utc> = "9000-01-01T00:00:00Z".parse().unwrap();
    let nine_years = 9 * 365 * 86_400;
    for round in 0..10 {
        app.post("/api/test/reset", &json!({})).await;
        app.post("/api/test/clock", &json!({ "set": "8991-01-01T00:00:00Z" }))
            .await;
        // Each fits alone; no two fit together.
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (client, url) = (app.client.clone(), app.url("/api/test/clock"));
            requests.spawn(async move {
                let sent = client
                    .post(url)
                    .json(&json!({ "advance_seconds": nine_years }));
                sent.send().await.unwrap()
            });
        }
        let mut moved = 0;
        for response in requests.join_all().await {
            match response.status() {
                StatusCode::OK => moved += 1,
                StatusCode::UNPROCESSABLE_ENTITY => {
                    let body: Value = response.json().await.unwrap();
                    assert_eq!(body["error"]["field"], "advance_seconds", "{body}");
                }
                other => panic!("advancing the clock answered {other}"),
            }
        }
        assert_eq!(moved, 1, "round {round}");
        assert!(clock_now(&app).await < limit, "round {round}");
    }
}

#[tokio::test]
async fn an_sms_is_on_the_timeline_when_its_handset_got_it_however_far_the_clock_moved() {
    let app = TestApp::spawn_with(Options::sms_delay(300)).await;
    // Submitted at 09:00 China time the next day, so that the day the clock
    // then moves on ends before a noon resend, whatever the time of day the
    // test runs.
    set_clock(&app, china_time_ahead(&app, 1, 9, 0).await).await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let at = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
            .unwrap()
            .to_utc()
    };
    let due = at(&filing["submitted_at"]) + chrono::Duration::seconds(300);
    app.advance(86_400).await;

    assert_eq!(at(&app.inbox(ZHANG.2).await[0]["delivered_at"]), due);
    let id = filing["id"].as_str().unwrap();
    let shown = app.filing(id).await;
    let delivered: Vec<_> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sms_delivered")
        .map(|e| at(&e["at"]))
        .collect();
    assert_eq!(delivered, [due, due], "both mobiles' first SMS");
}

#[tokio::test]
async fn a_bad_clock_move_is_named_and_moves_nothing() {
    let app = TestApp::spawn().await;
    let before = clock_now(&app).await;
    for (body, field, says) in [
        (
            json!({ "advance_seconds": -1 }),
            "advance_seconds",
            "between 0 and",
        ),
        (
            json!({ "advance_seconds": "60" }),
            "advance_seconds",
            "wrong type",
        ),
        (
            json!({ "set": "2026-13-01T00:00:00Z" }),
            "set",
            "with its offset",
        ),
        (json!({ "set": "2026-12-04" }), "set", "with its offset"),
        (json!({ "set": 1 }), "set", "wrong type"),
        (
            json!({ "set": "2000-01-01T00:00:00Z" }),
            "set",
            "not be earlier",
        ),
        (json!({}), "advance_seconds", "either"),
        (
            json!({ "advance_seconds": 1, "set": before }),
            "advance_seconds",
            "either",
        ),
    ] {
        let response = app
            .client
            .post(app.url("/api/test/clock"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["field"], field, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(clock_now(&app).await, before);
}
