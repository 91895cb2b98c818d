//! How long the deadline sweep and the noon resend take at scale, and what
//! they do to verify latency while they run.
//!
//!     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench jobs
//!
//! Seeds (in database `beian_bench_jobs`, made anew) BENCH_EXPIRED (default
//! 1,000,000) filings past their deadline and BENCH_NOON (default 100,000)
//! mobiles due a noon resend, then measures verify latency idle, during the
//! sweep, and during the resend. The verify load sends BENCH_RATE (default
//! 200) requests a second, as a portal's visitors would, whether or not the
//! last ones were answered; BENCH_RATE=0 sends them flat out from four
//! clients instead, which measures how a saturated service shares the
//! machine with a job rather than what a job does to a request's latency.
//! Without DATABASE_URL it uses the embedded cluster under `target/bench-pg`.

use std::time::{Duration, Instant};

use beian_sms::clock::{CHINA, Clock, china_date};
use beian_sms::config::Settings;
use beian_sms::flows::{Core, noon};
use beian_sms::{AppState, jobs, router, serve};
use chrono::{NaiveTime, TimeZone, Utc};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

mod common;

use common::{Pace, count, load, on_fresh_database, report, verify_forms};

/// Verify requests ready for each phase of the load.
const PHASE_FORMS: i64 = 10_000;
/// How long the idle phase of a paced load lasts.
const IDLE_SECONDS: usize = 15;
/// Verify requests sent, unmeasured, before the idle phase.
const WARM_UP_FORMS: usize = 600;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    on_fresh_database("beian_bench_jobs", bench).await
}

async fn bench(pool: PgPool) -> anyhow::Result<()> {
    let expired = count("BENCH_EXPIRED", 1_000_000);
    let noon_mobiles = count("BENCH_NOON", 100_000);
    let wal_detail = count("BENCH_WAL_DETAIL", 0) != 0;
    let pace = match count("BENCH_RATE", 200) {
        0 => Pace::Flat,
        rate => Pace::PerSecond(rate as u32),
    };

    // The clock stands one minute past noon, China time.
    let today = china_date(Utc::now());
    let noon = CHINA
        .from_local_datetime(&today.and_time(NaiveTime::from_hms_opt(12, 1, 0).expect("time")))
        .single()
        .expect("no DST")
        .with_timezone(&Utc);
    let started = Instant::now();
    seed(&pool, noon, expired, noon_mobiles).await?;
    println!(
        "seeded {expired} expired filings and {noon_mobiles} due a resend in {:.1?}",
        started.elapsed()
    );

    let settings = Settings {
        test_hooks: true,
        ip_rate_limit: 0,
        verify_attempts: i32::MAX,
        ..Settings::default()
    };
    let core = Core::new(pool.clone(), Clock::Virtual(pool.clone()), settings);
    core.clock.set(noon).await?;
    let state = AppState::new(core.clone()).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let mut server_stop = stopped.clone();
    tokio::spawn(serve(listener, router(state), async move {
        let _ = server_stop.changed().await;
    }));

    // The idle phase and the sweep verify mobiles not due a resend, so that
    // all of those are left for it; during the resend the load verifies
    // mobiles it is resending to. A phase under a job stops when the job ends.
    let mut forms = verify_forms(&core, records(&pool, "138", 2 * PHASE_FORMS).await?).await?;
    let for_sweep = forms.split_off(PHASE_FORMS as usize);
    // The first requests open connections and read pages in; their
    // latencies are not the idle service's.
    let warm_up: Vec<_> = forms.drain(..WARM_UP_FORMS).collect();
    let mut for_idle = forms;
    if let Pace::PerSecond(rate) = pace {
        for_idle.truncate(rate as usize * IDLE_SECONDS);
    }
    let for_resend = verify_forms(&core, records(&pool, "139", PHASE_FORMS).await?).await?;
    println!("verify load: {pace}");

    load(&base, warm_up, pace, None).await;
    let idle = load(&base, for_idle, pace, None).await;
    let idle_p99 = report("verify, idle", &idle, None);

    // The jobs run on connections of their own, as in the service.
    let jobs_core = core.for_jobs();
    let sweep = during(
        &pool,
        &base,
        for_sweep,
        pace,
        jobs::return_expired(&jobs_core),
    )
    .await?;
    println!(
        "sweep: returned {} filings in {:.2?}, {} MB of WAL",
        sweep.answer?,
        sweep.took,
        sweep.wal.megabytes(&pool).await?
    );
    if wal_detail {
        sweep.wal.print_by_relation(&pool).await?;
    }
    report("verify, during the sweep", &sweep.latencies, idle_p99);

    let resend = during(&pool, &base, for_resend, pace, noon::resend_due(&jobs_core)).await?;
    println!(
        "noon resend: sent {} codes in {:.2?}, {} MB of WAL",
        resend.answer?,
        resend.took,
        resend.wal.megabytes(&pool).await?
    );
    if wal_detail {
        resend.wal.print_by_relation(&pool).await?;
    }
    report(
        "verify, during the noon resend",
        &resend.latencies,
        idle_p99,
    );

    let _ = stop.send(true);
    Ok(())
}

/// How far the write-ahead log is written and flushed (the part of it that
/// pg_walinspect can read; every commit is in it).
async fn wal_position(pool: &PgPool) -> anyhow::Result<String> {
    Ok(
        sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
            .fetch_one(pool)
            .await?,
    )
}

/// A stretch of write-ahead log, between two positions.
struct Wal {
    from: String,
    to: String,
}

impl Wal {
    async fn megabytes(&self, pool: &PgPool) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(
                "SELECT (pg_wal_lsn_diff($2::pg_lsn, $1::pg_lsn) / 1048576)::bigint",
            )
            .bind(&self.from)
            .bind(&self.to)
            .fetch_one(pool)
            .await?,
        )
    }

    /// Prints what this stretch holds: the MB written for each relation, of
    /// which how much were whole-page images. Reads the log with
    /// pg_walinspect, so it must still be on disk: run it right after the job.
    async fn print_by_relation(&self, pool: &PgPool) -> anyhow::Result<()> {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_walinspect")
            .execute(pool)
            .await?;
        // A record's bytes go to the relation of its first block; records
        // with no block (commits) go under their kind.
        let rows: Vec<(String, i64, f64, f64)> = sqlx::query_as(
            "WITH r AS (
                 SELECT coalesce(pg_filenode_relation(0,
                            substring(block_ref FROM 'rel [0-9]+/[0-9]+/([0-9]+)')::oid)::text,
                            resource_manager || ' ' || record_type) AS what,
                        record_length, fpi_length
                 FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn))
             SELECT what, count(*), sum(record_length) / 1048576.0::float8,
                    sum(fpi_length) / 1048576.0::float8
             FROM r GROUP BY what ORDER BY sum(record_length) DESC LIMIT 15",
        )
        .bind(&self.from)
        .bind(&self.to)
        .fetch_all(pool)
        .await?;
        println!(
            "  {:<40} {:>9} {:>9} {:>9}",
            "WAL for", "records", "MB", "of it FPI"
        );
        for (what, records, mb, fpi) in rows {
            println!("  {what:<40} {records:>9} {mb:>9.1} {fpi:>9.1}");
        }
        Ok(())
    }
}

/// What a job answered and did while the verify load ran beside it.
struct Beside<T> {
    answer: T,
    took: Duration,
    /// The WAL the job wrote (with the load's own), which every commit
    /// beside it has to wait behind.
    wal: Wal,
    latencies: Vec<Duration>,
}

/// Runs `job` while verifying `forms`, the load stopping when the job ends.
async fn during<T>(
    pool: &PgPool,
    base: &str,
    forms: Vec<serde_json::Value>,
    pace: Pace,
    job: impl Future<Output = T>,
) -> anyhow::Result<Beside<T>> {
    let from = wal_position(pool).await?;
    let (done, finished) = watch::channel(false);
    let timed = async {
        let started = Instant::now();
        let answer = job.await;
        let _ = done.send(true);
        (answer, started.elapsed())
    };
    let ((answer, took), latencies) = tokio::join!(timed, load(base, forms, pace, Some(finished)));
    let to = wal_position(pool).await?;
    Ok(Beside {
        answer,
        took,
        wal: Wal { from, to },
        latencies,
    })
}

/// Made-up filings straight into the tables, in a few set-based statements.
async fn seed(
    pool: &PgPool,
    now: chrono::DateTime<Utc>,
    expired: i64,
    due: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO isps (id, name, api_key_hash, created_at)
         VALUES ('00000000-0000-4000-8000-000000000001', 'Bench ISP', 'bench', $1)",
    )
    .bind(now)
    .execute(pool)
    .await?;
    // Time-ordered keys, as the service makes them (UUIDv7).
    sqlx::query(
        "CREATE FUNCTION bench_id() RETURNS uuid LANGUAGE sql RETURN
             (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
              || '7' || substr(md5(random()::text), 1, 3)
              || '8' || substr(md5(random()::text), 1, 15))::uuid",
    )
    .execute(pool)
    .await?;
    // Past their deadline, in the order they were submitted (48 hours
    // before it), each with one mobile whose code was already replaced.
    sqlx::query(
        "WITH f AS (
             INSERT INTO filings (id, isp_id, province, kind, isp_reference, state, subject, websites,
                                  submitted_at, deadline)
             SELECT bench_id(), '00000000-0000-4000-8000-000000000001', 'gs', 'new_filing',
                    'EXPIRED-' || i, 'awaiting_verification', '{}', '[]',
                    deadline - interval '48 hours', deadline
             FROM generate_series(1, $2) i,
                  LATERAL (SELECT $1 - interval '1 hour' - ($2 - i) * interval '1 millisecond')
                      AS t (deadline)
             RETURNING id, isp_reference),
         v AS (
             INSERT INTO verifications (id, filing_id, position, mobile, person_name, certificate_number,
                                        certificate_tail, roles, website_indexes)
             SELECT bench_id(), f.id, 0, '137' || lpad(substr(f.isp_reference, 9), 8, '0'),
                    'Bench Person', '62010219800101123X', '01123X', '{subject}', '{}'
             FROM f RETURNING id, filing_id)
         INSERT INTO codes (id, verification_id, filing_id, code, state, reason, issued_at, ended_at)
         SELECT bench_id(), v.id, v.filing_id, '123456', 'replaced', 'first',
                $1 - interval '49 hours', $1
         FROM v",
    )
    .bind(now)
    .bind(expired)
    .execute(pool)
    .await?;
    // Due a noon resend: submitted yesterday.
    seed_waiting(pool, now, "139", due, 20, 0).await?;
    // For the verify load before the resend: submitted this morning, so not
    // due it.
    seed_waiting(pool, now, "138", 2 * PHASE_FORMS, 1, 500_000).await?;
    sqlx::query(
        "INSERT INTO handsets (mobile) SELECT mobile FROM verifications ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await?;
    // Settle, as a database that grew over days would be: vacuumed (hint
    // bits and visibility map set), statistics read, nothing left to write
    // back. Otherwise the first phase measures the seeding's aftermath.
    sqlx::query("VACUUM (ANALYZE)").execute(pool).await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}

/// Filings awaiting verification, submitted `hours_ago`, one mobile each
/// (`prefix` and a serial) with a live code (`code_base` plus the serial).
async fn seed_waiting(
    pool: &PgPool,
    now: chrono::DateTime<Utc>,
    prefix: &str,
    count: i64,
    hours_ago: i32,
    code_base: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "WITH f AS (
             INSERT INTO filings (id, isp_id, province, kind, isp_reference, state, subject, websites,
                                  submitted_at, deadline)
             SELECT bench_id(), '00000000-0000-4000-8000-000000000001', 'gs', 'new_filing',
                    $3 || '-' || i, 'awaiting_verification', '{}', '[]',
                    $1 - make_interval(hours => $4), $1 + make_interval(hours => 48 - $4)
             FROM generate_series(0, $2 - 1) i
             RETURNING id, isp_reference),
         v AS (
             INSERT INTO verifications (id, filing_id, position, mobile, person_name, certificate_number,
                                        certificate_tail, roles, website_indexes)
             SELECT bench_id(), f.id, 0, $3 || lpad(split_part(f.isp_reference, '-', 2), 8, '0'),
                    'Bench Person', '62010219800101123X', '01123X', '{subject}', '{}'
             FROM f RETURNING id, filing_id)
         INSERT INTO codes (id, verification_id, filing_id, code, reason, issued_at)
         SELECT bench_id(), v.id, v.filing_id, lpad(($5 + split_part(f.isp_reference, '-', 2)::bigint)::text, 6, '0'),
                'first', $1 - make_interval(hours => $4)
         FROM v JOIN f ON f.id = v.filing_id",
    )
    .bind(now)
    .bind(count)
    .bind(prefix)
    .bind(hours_ago)
    .bind(code_base)
    .execute(pool)
    .await?;
    Ok(())
}

/// Right codes for `limit` mobiles starting with `prefix`, the last ones
/// first (the noon resend reaches them last).
async fn records(
    pool: &PgPool,
    prefix: &str,
    limit: i64,
) -> anyhow::Result<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT v.mobile, c.code, v.certificate_tail FROM verifications v
         JOIN codes c ON c.verification_id = v.id
         WHERE c.state = 'live' AND starts_with(v.mobile, $1) ORDER BY v.mobile DESC LIMIT $2",
    )
    .bind(prefix)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
