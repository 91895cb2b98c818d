//! Webhooks: signed, retried, recorded, and never in a request's way.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::helpers::*;

/// A receiver that answers 500 to its first `failures` requests, then 200.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    failures: usize,
}

impl Receiver {
    async fn start(failures: usize) -> (Receiver, String) {
        let receiver = Receiver {
            failures,
            ..Receiver::default()
        };
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    fn seen(&self) -> Vec<(HeaderMap, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let mut seen = receiver.seen.lock().unwrap();
    seen.push((headers, body));
    if seen.len() <= receiver.failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// An ISP with a receiver; the app submits as this ISP from now on.
async fn with_receiver(app: &mut TestApp, url: &str) -> String {
    let isp = app
        .post(
            "/api/test/isps",
            &json!({ "name": "Hooked ISP", "webhook_url": url }),
        )
        .await;
    app.isp_key = isp["api_key"].as_str().unwrap().to_string();
    isp["webhook_secret"].as_str().unwrap().to_string()
}

async fn deliveries(app: &TestApp) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/webhook-deliveries"))
        .bearer_auth(&app.isp_key)
        .send()
        .await
        .unwrap();
    response.json::<Vec<Value>>().await.unwrap()
}

#[tokio::test]
async fn events_are_signed_and_reach_only_their_isp() {
    let mut app = TestApp::spawn().await;
    let (bystander, bystander_url) = Receiver::start(0).await;
    app.post(
        "/api/test/isps",
        &json!({ "name": "Bystander ISP", "webhook_url": bystander_url }),
    )
    .await;
    let (receiver, url) = Receiver::start(0).await;
    let secret = with_receiver(&mut app, &url).await;

    let review = app
        .submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    let returned = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    app.advance(48 * 3600).await;
    eventually("two events", || async { receiver.seen().len() == 2 }).await;

    let mut types = Vec::new();
    for (headers, body) in receiver.seen() {
        let signature = headers["x-beian-signature"].to_str().unwrap();
        let (t, v1) = signature.split_once(',').unwrap();
        let t = t.strip_prefix("t=").unwrap();
        let v1 = v1.strip_prefix("v1=").unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            v1,
            "signature of {body}"
        );
        let event: Value = serde_json::from_str(&body).unwrap();
        assert!(event["id"].is_string() && event["created_at"].is_string());
        types.push((
            event["type"].as_str().unwrap().to_string(),
            event["data"]["filing"]["id"].clone(),
        ));
    }
    types.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        types,
        [
            ("filing.awaiting_review".to_string(), review["id"].clone()),
            ("filing.returned".to_string(), returned["id"].clone())
        ]
    );
    assert!(
        bystander.seen().is_empty(),
        "another ISP's receiver hears nothing"
    );
}

#[tokio::test]
async fn a_failing_receiver_is_retried_with_back_off_and_every_try_is_kept() {
    let mut app = TestApp::spawn().await;
    let (receiver, url) = Receiver::start(2).await;
    with_receiver(&mut app, &url).await;
    app.submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;

    eventually("the first try", || async { receiver.seen().len() == 1 }).await;
    eventually("the first try recorded", || async {
        deliveries(&app).await[0]["attempts"]
            .as_array()
            .unwrap()
            .len()
            == 1
    })
    .await;
    app.advance(9).await;
    assert_eq!(receiver.seen().len(), 1, "not retried before its back-off");
    app.advance(1).await;
    eventually("the second try", || async { receiver.seen().len() == 2 }).await;
    eventually("the second try recorded", || async {
        deliveries(&app).await[0]["attempts"]
            .as_array()
            .unwrap()
            .len()
            == 2
    })
    .await;
    app.advance(20).await;
    eventually("the delivery", || async {
        deliveries(&app).await[0]["state"] == "delivered"
    })
    .await;

    let list = deliveries(&app).await;
    assert_eq!(list.len(), 1, "one delivery");
    let statuses: Vec<&Value> = list[0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(200)]);
    let bodies: Vec<String> = receiver.seen().into_iter().map(|(_, body)| body).collect();
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "every try sends the same body"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_slows_no_request() {
    let mut app = TestApp::spawn().await;
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks", silent.local_addr().unwrap());
    with_receiver(&mut app, &url).await;

    app.submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    eventually("the try to start", || async {
        let leased: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE next_attempt_at > (SELECT now FROM virtual_clock)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        leased == 1
    })
    .await;
    // While the try hangs, requests are answered, and none of them waited for it.
    for _ in 0..5 {
        app.submit(&new_filing("bj", person(ZHANG), person(LI)))
            .await;
    }
    let tries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_attempts")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        tries, 0,
        "the hanging try has not finished, yet every request was answered"
    );
    drop(silent);
}

#[tokio::test]
async fn an_isp_sets_its_receiver_through_the_api() {
    let app = TestApp::spawn().await;
    let set = |body: Value| {
        app.client
            .put(app.url("/api/v1/webhook"))
            .bearer_auth(&app.isp_key)
            .json(&body)
            .send()
    };
    let bad = set(json!({ "url": "ftp://example" })).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"]["field"], "url", "{bad}");
    for control in ["http://a\u{0}b", "http://a\u{1b}[31mb"] {
        let refused = set(json!({ "url": control })).await.unwrap();
        assert_eq!(
            refused.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{control:?}"
        );
    }
    let first: Value = set(json!({ "url": "http://127.0.0.1:9/a" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again: Value = set(json!({ "url": "http://127.0.0.1:9/b" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(first["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(
        first["secret"], again["secret"],
        "a new URL keeps the secret"
    );
    let removed: Value = set(json!({ "url": null }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed["secret"], Value::Null);
}

#[tokio::test]
async fn a_webhook_cannot_call_the_test_hooks() {
    let mut app = TestApp::spawn().await;
    let own_reset = app.url("/api/test/reset");
    with_receiver(&mut app, &own_reset).await;
    app.submit(&new_filing("bj", person(ZHANG), person(LI)))
        .await;
    eventually("the refused try", || async {
        let tries = deliveries(&app).await;
        tries
            .first()
            .is_some_and(|d| d["attempts"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await;
    assert_eq!(deliveries(&app).await[0]["attempts"][0]["status"], 403);
    let filings: i64 = sqlx::query_scalar("SELECT count(*) FROM filings")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(filings, 1, "nothing was reset");
}
