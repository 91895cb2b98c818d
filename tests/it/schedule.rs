//! Work that happens because time passes: the daily resend, across instances
//! and restarts, in China time.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection};

use crate::helpers::*;

/// The subject's and the website's mobiles of the `i`th of many Gansu
/// filings from two people, each pair under `prefix`, and that filing.
fn pair_filing(prefix: &str, i: usize) -> ([String; 2], serde_json::Value) {
    let subject = format!("{prefix}{:04}", i * 2);
    let website = format!("{prefix}{:04}", i * 2 + 1);
    let filing = new_filing(
        "gs",
        person(("Zhou Jie", "620102198001011234", &subject)),
        person(("Wu Min", "62010219900202567X", &website)),
    );
    ([subject, website], filing)
}

#[tokio::test]
async fn the_noon_resend_skips_the_day_of_submission_and_replaces_the_code_the_next_day() {
    let app = TestApp::spawn().await;
    set_clock(&app, china_time_ahead(&app, 1, 10, 0).await).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let first = app.latest_code(ZHANG.2).await;

    app.advance(2 * 3600 + 60).await; // 12:01 the same day
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1);

    app.advance(24 * 3600).await; // 12:01 the next day
    let inbox = app.inbox(ZHANG.2).await;
    assert_eq!(inbox.len(), 2);
    assert!(
        inbox[1]["body"]
            .as_str()
            .unwrap()
            .contains(inbox[1]["code"].as_str().unwrap())
    );
    let second = app.latest_code(ZHANG.2).await;
    assert_ne!(first, second);
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &first).await["outcome"],
        "not_found"
    );
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &second).await["outcome"],
        "verified"
    );
    assert_eq!(
        app.inbox(LI.2).await.len(),
        2,
        "every unverified mobile gets one"
    );
}

/// The service never reads the server's or the session's zone: its database
/// sessions run in UTC (sqlx sets it) and here the database's own default is
/// New York, yet the resend comes at 12:00 China time, 04:00 UTC.
#[tokio::test]
async fn noon_is_china_time_whatever_the_database_session_says() {
    let url = fresh_database().await;
    let mut admin = PgConnection::connect(&url).await.unwrap();
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    let alter = format!("ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'");
    admin.execute(sqlx::AssertSqlSafe(alter)).await.unwrap();
    admin.close().await.unwrap();

    let app = TestApp::spawn_fresh(&url, Options::default()).await;
    let zone: String = sqlx::query_scalar("SHOW timezone")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(zone, "UTC");
    set_clock(&app, china_time_ahead(&app, 1, 9, 0).await).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;

    let noon_next_day = china_time_ahead(&app, 1, 12, 0).await;
    assert_eq!(noon_next_day.format("%H:%M:%S").to_string(), "04:00:00");
    set_clock(&app, noon_next_day - Duration::seconds(1)).await;
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1, "not before 04:00 UTC");
    app.advance(1).await;
    assert_eq!(app.inbox(ZHANG.2).await.len(), 2, "at 04:00 UTC");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_noon_resend_once() {
    let first = TestApp::spawn().await;
    let second = first.another_instance().await;
    set_clock(&first, china_time_ahead(&first, 1, 8, 0).await).await;
    let mut mobiles = Vec::new();
    for i in 0..20 {
        let (pair, filing) = pair_filing("1390000", i);
        first.submit(&filing).await;
        mobiles.extend(pair);
    }
    // Past the next noon, through the second instance; both wake.
    second.advance(30 * 3600).await;
    for mobile in &mobiles {
        assert_eq!(first.inbox(mobile).await.len(), 2, "{mobile}");
    }
    let resends: i64 =
        sqlx::query_scalar("SELECT count(*) FROM codes WHERE reason = 'noon_resend'")
            .fetch_one(&first.pool)
            .await
            .unwrap();
    assert_eq!(resends, 40);
}

#[tokio::test]
async fn a_resend_in_many_small_batches_reaches_every_mobile_once() {
    let app = TestApp::spawn().await;
    set_clock(&app, china_time_ahead(&app, 1, 8, 0).await).await;
    let mut mobiles = Vec::new();
    for i in 0..7 {
        let (pair, filing) = pair_filing("1390000", i);
        app.submit(&filing).await;
        mobiles.extend(pair);
    }
    // One mobile verifies first; it is skipped, and the batches after it go on.
    let code = app.latest_code(&mobiles[4]).await;
    assert_eq!(
        app.verify("gs", tail("620102198001011234"), &mobiles[4], &code)
            .await["outcome"],
        "verified"
    );
    // Past the next noon without waking the scheduler; the flow runs here,
    // three mobiles to a transaction.
    let next_noon = china_time_ahead(&app, 1, 12, 1).await;
    app.core.clock.set(next_noon).await.unwrap();
    beian_sms::flows::noon::resend_due_in_batches(&app.core, 3)
        .await
        .unwrap();
    for (i, mobile) in mobiles.iter().enumerate() {
        let expected = if i == 4 { 1 } else { 2 };
        assert_eq!(app.inbox(mobile).await.len(), expected, "{mobile}");
    }
    let again = beian_sms::flows::noon::resend_due_in_batches(&app.core, 3)
        .await
        .unwrap();
    assert_eq!(again, 0, "a second run sends nothing");
}

#[tokio::test]
async fn a_run_that_waited_out_a_reset_resends_for_the_clock_it_finds() {
    let app = TestApp::spawn().await;
    // A reset holds the resend's lock (as it does while it erases) ...
    let mut reset = app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(7420, $1)")
        .bind(beian_sms::store::Job::NoonResend as i32)
        .execute(&mut *reset)
        .await
        .unwrap();
    // ... while a run, due tomorrow's resend (China), waits for it ...
    let tomorrow_noon = china_time_ahead(&app, 1, 12, 1).await;
    let today = china_time_ahead(&app, 0, 9, 0).await;
    app.core.clock.set(tomorrow_noon).await.unwrap();
    let run = tokio::spawn({
        let core = app.core.clone();
        async move { beian_sms::flows::noon::resend_due(&core).await }
    });
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // ... and the reset turns the clock back to today.
    sqlx::query("UPDATE virtual_clock SET now = $1")
        .bind(today)
        .execute(&mut *reset)
        .await
        .unwrap();
    reset.commit().await.unwrap();
    run.await.unwrap().unwrap();

    let tomorrow = beian_sms::clock::china_date(tomorrow_noon);
    let marked: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM noon_days WHERE china_day = $1)")
            .bind(tomorrow)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(!marked, "tomorrow's resend is still to come");
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    set_clock(&app, tomorrow_noon).await;
    assert_eq!(
        app.inbox(ZHANG.2).await.len(),
        2,
        "the first SMS and the noon resend"
    );
}

/// The clock is moved on in the middle of a noon resend, past the time a
/// first SMS falls due: the move waits for the batch in flight, which
/// replaces that SMS's code at noon and cancels it, so the handset never
/// gets a code that was dead before it arrived.
#[tokio::test]
async fn a_clock_move_waits_for_the_noon_resend_batch_in_flight() {
    // First SMS due at 13:00 China time the day after they were sent.
    let app = TestApp::spawn_with(Options::sms_delay(17 * 3600)).await;
    set_clock(&app, china_time_ahead(&app, 1, 20, 0).await).await;
    let mut ids = Vec::new();
    for who in [ZHANG, LI] {
        let filing = app
            .submit(&new_filing("gs", person(who), person(who)))
            .await;
        ids.push(filing["id"].as_str().unwrap().to_string());
    }
    let noon = china_time_ahead(&app, 1, 12, 0).await;
    let two_pm = noon + Duration::hours(2);
    // Moved in SQL, so that no job wakes for it. Should the service's own
    // run wake first and take the day, the batch in flight is its own.
    sqlx::query("UPDATE virtual_clock SET now = $1")
        .bind(noon)
        .execute(&app.pool)
        .await
        .unwrap();

    // A run, a filing a batch, waits for the second filing, held ...
    let held = app.hold_filing(&ids[1]).await;
    let run = tokio::spawn({
        let core = app.core.clone();
        async move { beian_sms::flows::noon::resend_due_in_batches(&core, 1).await }
    });
    eventually("the resend waiting for the second filing", || async {
        app.row_lock_waits().await == 1
    })
    .await;
    // ... when the clock is moved on past 13:00: the move waits too.
    let moved = tokio::spawn({
        let pool = app.pool.clone();
        async move {
            sqlx::query("UPDATE virtual_clock SET now = $1")
                .bind(two_pm)
                .execute(&pool)
                .await
                .unwrap();
        }
    });
    eventually("the clock move waiting for the batch", || async {
        app.row_lock_waits().await == 2
    })
    .await;
    held.commit().await.unwrap();
    moved.await.unwrap();
    run.await.unwrap().unwrap();

    let (state, replaced): (String, DateTime<Utc>) = sqlx::query_as(
        "SELECT s.state, c.ended_at FROM sms s JOIN codes c ON c.id = s.code_id
         WHERE s.mobile = $1 AND c.reason = 'first'",
    )
    .bind(LI.2)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), replaced), ("cancelled", noon));
    let inbox = app.inbox(LI.2).await;
    assert_eq!(inbox.len(), 1, "only the noon SMS: {inbox:?}");
}

#[tokio::test]
async fn filings_submitted_as_the_clock_crosses_noon_all_get_their_resend() {
    let app = TestApp::spawn().await;
    let midnight = china_time_ahead(&app, 1, 0, 0).await;
    set_clock(&app, midnight - Duration::seconds(1)).await;
    let noon = china_time_ahead(&app, 0, 12, 0).await + Duration::days(1);
    let mut submissions = Vec::new();
    for i in 0..24 {
        let (_, filing) = pair_filing("1390100", i);
        let (client, url, key) = (
            app.client.clone(),
            app.url("/api/v1/filings"),
            app.isp_key.clone(),
        );
        submissions.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .bearer_auth(key)
                .json(&filing)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), reqwest::StatusCode::CREATED);
        }));
        if i == 12 {
            // The clock crosses midnight and then noon while filings arrive.
            set_clock(&app, noon + Duration::seconds(5)).await;
        }
    }
    for submission in submissions {
        submission.await.unwrap();
    }
    app.advance(60).await;

    let day_starts = beian_sms::clock::china_midnight(beian_sms::clock::china_date(noon));
    let missed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM verifications v JOIN filings f ON f.id = v.filing_id
         WHERE f.state = 'awaiting_verification' AND v.state = 'pending'
           AND f.submitted_at < $1
           AND NOT EXISTS (SELECT 1 FROM noon_resends n
                           WHERE n.verification_id = v.id AND n.china_day = $2)",
    )
    .bind(day_starts)
    .bind(beian_sms::clock::china_date(noon))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        missed, 0,
        "every mobile of a filing from the day before had its resend"
    );
}

#[tokio::test]
async fn a_server_down_at_noon_sends_the_missed_resend_once_when_it_starts() {
    let app = TestApp::spawn().await;
    set_clock(&app, china_time_ahead(&app, 1, 10, 0).await).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let url = app.database_url.clone();
    let noon_next_day = china_time_ahead(&app, 1, 12, 0).await;
    drop(app);

    // While no server runs, noon passes.
    let mut conn = PgConnection::connect(&url).await.unwrap();
    sqlx::query("UPDATE virtual_clock SET now = $1")
        .bind(noon_next_day + Duration::hours(3))
        .execute(&mut conn)
        .await
        .unwrap();

    let restarted = TestApp::spawn_on(&url, Options::default()).await;
    eventually("the missed noon resend", || async {
        restarted.inbox(ZHANG.2).await.len() == 2
    })
    .await;
    drop(restarted);

    let again = TestApp::spawn_on(&url, Options::default()).await;
    beian_sms::jobs::run_due(&again.core).await.unwrap();
    assert_eq!(
        again.inbox(ZHANG.2).await.len(),
        2,
        "started again, it sends nothing more"
    );
    assert_eq!(again.inbox(LI.2).await.len(), 2);
}

#[tokio::test]
async fn a_filing_submitted_before_a_day_recorded_as_resent_still_gets_that_days_resend() {
    let app = TestApp::spawn().await;
    // As if this database had been served under a clock days ahead, whose
    // noon resends found no filing waiting.
    let today = beian_sms::clock::china_date(app.core.clock.now().await.unwrap());
    sqlx::query(
        "INSERT INTO noon_days (china_day, finished_at)
         SELECT day::date, now() FROM generate_series($1::date + 1, $1::date + 3, '1 day') day",
    )
    .bind(today)
    .execute(&app.pool)
    .await
    .unwrap();
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    set_clock(&app, china_time_ahead(&app, 1, 12, 1).await).await;
    assert_eq!(app.inbox(ZHANG.2).await.len(), 2, "tomorrow's noon resend");
    assert_eq!(app.inbox(LI.2).await.len(), 2);
}

#[tokio::test]
async fn no_resend_resets_the_certificate_count() {
    let app = TestApp::spawn().await;
    set_clock(&app, china_time_ahead(&app, 1, 10, 0).await).await;
    let filing = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let id = filing["id"].as_str().unwrap();
    let wrong = |code: String| {
        let app = &app;
        async move { app.verify("gs", "11111X", ZHANG.2, &code).await["outcome"].clone() }
    };
    for _ in 0..3 {
        assert_eq!(wrong(app.latest_code(ZHANG.2).await).await, "not_found");
    }
    app.advance(60).await;
    assert_eq!(
        app.resend("gs", ZHANG.2, tail(ZHANG.1)).await["outcome"],
        "sent"
    );
    app.advance(26 * 3600).await; // past the next noon
    assert_eq!(app.inbox(ZHANG.2).await.len(), 3, "first, manual and noon");
    assert_eq!(wrong(app.latest_code(ZHANG.2).await).await, "not_found");
    assert_eq!(
        wrong(app.latest_code(ZHANG.2).await).await,
        "failed_returned"
    );
    assert_eq!(
        app.filing(id).await["return_reason"],
        "certificate_attempts_exceeded"
    );
}

#[tokio::test]
async fn a_verified_mobile_gets_no_noon_resend() {
    let app = TestApp::spawn().await;
    set_clock(&app, china_time_ahead(&app, 1, 10, 0).await).await;
    app.submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await;
    let code = app.latest_code(ZHANG.2).await;
    assert_eq!(
        app.verify("gs", tail(ZHANG.1), ZHANG.2, &code).await["outcome"],
        "verified"
    );
    app.advance(26 * 3600).await;
    assert_eq!(app.inbox(ZHANG.2).await.len(), 1, "verified: no new code");
    assert_eq!(app.inbox(LI.2).await.len(), 2, "still waiting: a new code");
}

#[tokio::test]
async fn the_sweep_in_small_batches_returns_each_waiting_filing_once() {
    let app = TestApp::spawn().await;
    sqlx::query("UPDATE isps SET webhook_url = 'http://127.0.0.1:9/returned'")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut filings = Vec::new();
    for i in 0..7 {
        let (pair, filing) = pair_filing("1370000", i);
        let id = app.submit(&filing).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        filings.push((id, pair));
    }
    // Both people of the fifth filing verify: it waits for review, not for them.
    for (mobile, certificate) in filings[4]
        .1
        .iter()
        .zip(["620102198001011234", "62010219900202567X"])
    {
        let code = app.latest_code(mobile).await;
        let verified = app.verify("gs", tail(certificate), mobile, &code).await;
        assert_eq!(verified["outcome"], "verified");
    }
    // Past the deadline without waking the scheduler; the sweep runs here, two
    // filings to a transaction.
    let later = app.core.clock.now().await.unwrap() + chrono::Duration::hours(48);
    app.core.clock.set(later).await.unwrap();
    beian_sms::jobs::return_expired_in_batches(&app.core, 2)
        .await
        .unwrap();

    for (i, (id, _)) in filings.iter().enumerate() {
        let (state, deadline): (String, DateTime<Utc>) =
            sqlx::query_as("SELECT state, deadline FROM filings WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        let shown = app.filing(id).await;
        let events = shown["events"].as_array().unwrap();
        let expiries: Vec<&Value> = events
            .iter()
            .filter(|e| e["detail"]["reason"] == "verification_expired")
            .collect();
        // The ISP is told of each return once (its receiver is never up).
        let told: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM webhook_deliveries
             WHERE filing_id = $1::uuid AND event_type = 'filing.returned'",
        )
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(told, i64::from(i != 4), "filing {i}");
        if i == 4 {
            assert_eq!(state, "awaiting_review", "filing {i}");
            assert!(expiries.is_empty(), "filing {i}: {events:?}");
        } else {
            assert_eq!(state, "returned", "filing {i}");
            assert_eq!(expiries.len(), 1, "filing {i}: {events:?}");
            assert_eq!(
                events.last(),
                Some(expiries[0]),
                "the return ends the timeline"
            );
            let at: DateTime<Utc> = serde_json::from_value(expiries[0]["at"].clone()).unwrap();
            assert_eq!(at, deadline, "filing {i} is shown returned at its deadline");
        }
    }
    let swept_until: DateTime<Utc> = sqlx::query_scalar("SELECT swept_until FROM deadline_sweep")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(swept_until, later, "the sweep records how far it got");
    let again = beian_sms::jobs::return_expired_in_batches(&app.core, 2)
        .await
        .unwrap();
    assert_eq!(again, 0, "a second run returns nothing");
}

/// The sweep returns every filing of a page in one transaction. Each
/// returned row must fit on its page beside its old version (a heap-only
/// update); one that does not moves to another page and writes a new entry
/// in each of the table's indexes. The smallest filings fill a page with the
/// most rows, so they leave the least room per row.
#[tokio::test]
async fn the_sweep_returns_a_page_full_of_filings_without_moving_any() {
    let app = TestApp::spawn().await;
    let now = app.core.clock.now().await.unwrap();
    // The test's ISP's filings, the smallest a filing can be.
    sqlx::query(
        "INSERT INTO filings (id, isp_id, province, kind, isp_reference, state, subject,
                              websites, submitted_at, deadline)
         SELECT gen_random_uuid(), (SELECT id FROM isps), 'gs', 'new_filing',
                'PAGE-' || lpad(i::text, 6, '0'), 'awaiting_verification', '{}', '[]',
                $1 - interval '47 hours', $1 + interval '1 hour'
         FROM generate_series(1, 300) i",
    )
    .bind(now)
    .execute(&app.pool)
    .await
    .unwrap();
    let page_of = "SELECT id, (ctid::text::point)[0]::bigint, state FROM filings
                   WHERE starts_with(isp_reference, 'PAGE-') ORDER BY id";
    let before: Vec<(uuid::Uuid, i64, String)> =
        sqlx::query_as(page_of).fetch_all(&app.pool).await.unwrap();

    // The service's own scheduler may sweep first, woken by the clock.
    set_clock(&app, now + Duration::hours(2)).await;
    beian_sms::jobs::return_expired(&app.core).await.unwrap();

    let after: Vec<(uuid::Uuid, i64, String)> =
        sqlx::query_as(page_of).fetch_all(&app.pool).await.unwrap();
    assert_eq!(after.len(), 300);
    assert!(after.iter().all(|(_, _, state)| state == "returned"));
    let moved = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.1 != a.1)
        .count();
    assert_eq!(moved, 0, "filings moved to another page when returned");
}

#[tokio::test]
async fn a_filing_due_before_the_time_last_swept_up_to_is_still_returned() {
    let app = TestApp::spawn().await;
    // As if this database had been swept under a clock a year ahead.
    let now = app.core.clock.now().await.unwrap();
    sqlx::query("INSERT INTO deadline_sweep (swept_until) VALUES ($1)")
        .bind(now + Duration::days(365))
        .execute(&app.pool)
        .await
        .unwrap();
    let id = app
        .submit(&new_filing("gs", person(ZHANG), person(LI)))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.advance(49 * 3600).await;
    // Read straight from the table: a request would apply the deadline itself.
    let state: String = sqlx::query_scalar("SELECT state FROM filings WHERE id = $1::uuid")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(state, "returned", "the sweep walked past it");
}
