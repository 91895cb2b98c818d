//! Asking for the SMS again: a new code replaces the old, within limits.

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_resend_replaces_the_code() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let old = app.latest_code(ZHANG.2).await;
    let sent = app.resend("gs", ZHANG.2, tail(ZHANG.1)).await;
    assert_eq!(sent, json!({ "outcome": "sent", "filings": 1 }));
    let inbox = app.inbox(ZHANG.2).await;
    assert_eq!(inbox.len(), 2);
    let new = app.latest_code(ZHANG.2).await;
    assert_ne!(old, new);
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &old).await["outcome"],
        "not_found"
    );
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &new).await["outcome"],
        "verified"
    );
}

#[tokio::test]
async fn a_resend_needs_the_right_mobile_certificate_and_province() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    assert_eq!(
        app.resend("gs", ZHANG.2, "00000X").await["outcome"],
        "not_found"
    );
    assert_eq!(
        app.resend("gs", "13912345678", tail(ZHANG.1)).await["outcome"],
        "not_found"
    );
    assert_eq!(
        app.resend("tj", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "not_found"
    );
    let invalid = app.resend("gs", "12345", "x").await;
    assert_eq!(invalid["outcome"], "invalid_input");
    assert_eq!(invalid["errors"][0]["field"], "mobile");
    assert_eq!(invalid["errors"][1]["field"], "certificate_last6");
    let wrong_captcha = app
        .post(
            "/api/v1/resends",
            &json!({ "province": "gs", "mobile": ZHANG.2, "certificate_last6": tail(ZHANG.1), "captcha_id": "nope", "captcha_answer": "AAAAA" }),
        )
        .await;
    assert_eq!(wrong_captcha["outcome"], "captcha_invalid");
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1, "nothing was sent");
}

#[tokio::test]
async fn resends_have_a_cooldown_and_a_daily_cap() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "rate_limited"
    );
    app.advance(59).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "rate_limited"
    );
    app.advance(1).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    for _ in 0..3 {
        app.advance(60).await;
        assert_eq!(
            app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
            "sent"
        );
    }
    app.advance(60).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "rate_limited",
        "five a day"
    );
    // Another mobile has its own allowance.
    assert_eq!(app.resend("gs", LI.2, tail(LI.1)).await["outcome"], "sent");
    assert_eq!(app.inbox(ZHANG.2).await.len(), 6);
}

#[tokio::test]
async fn a_resend_before_the_first_sms_goes_out_cancels_it() {
    let app = TestApp::spawn_with(Options::sms_delay(300)).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    app.advance(61).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    app.advance(300).await;
    let inbox = app.inbox(ZHANG.2).await;
    assert_eq!(inbox.len(), 1, "only the new code arrives");
    let code = inbox[0]["code"].as_str().unwrap();
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, code).await["outcome"],
        "verified"
    );
    let cancelled: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sms WHERE mobile = $1 AND state = 'cancelled'")
            .bind(ZHANG.2)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(cancelled, 1);
}

#[tokio::test]
async fn a_verified_mobile_cannot_ask_for_a_new_code() {
    let app = TestApp::spawn().await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let code = app.latest_code(ZHANG.2).await;
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified"
    );
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "not_found"
    );
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1);
}
