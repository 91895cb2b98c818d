//! Filings and their verifications.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::PgConnection;
use uuid::Uuid;

pub const AWAITING_VERIFICATION: &str = "awaiting_verification";
pub const AWAITING_REVIEW: &str = "awaiting_review";
pub const RETURNED: &str = "returned";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FilingRow {
    pub id: Uuid,
    pub isp_id: Uuid,
    pub province: String,
    pub kind: String,
    pub isp_reference: String,
    pub state: String,
    pub return_reason: Option<String>,
    pub subject: Value,
    pub websites: Value,
    pub submitted_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub icp_number: Option<String>,
    pub reject_reason: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VerificationRow {
    pub id: Uuid,
    pub filing_id: Uuid,
    pub mobile: String,
    pub roles: Vec<String>,
    pub state: String,
    pub verified_at: Option<DateTime<Utc>>,
}

pub struct NewFiling<'a> {
    pub isp_id: Uuid,
    pub province: &'a str,
    pub kind: &'a str,
    pub isp_reference: &'a str,
    pub state: &'a str,
    pub subject: Value,
    pub websites: Value,
    pub submitted_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub idempotency_key: Option<&'a str>,
    pub request_hash: &'a str,
}

/// Inserts the filing; `None` when the ISP already used this idempotency key
/// (the first request's transaction has then committed or is waited for).
/// The clock may have gone back (a database run under a virtual clock far
/// ahead, then served with the system clock); two records of what the jobs
/// finished are then undone where they no longer hold. A deadline at or
/// before the time the deadline sweep last swept up to moves that time back
/// before it, so the sweep walks past this filing; a noon resend recorded as
/// done for a day after the submission's China date is forgotten, so it runs
/// again for this filing's mobiles.
pub async fn insert(
    conn: &mut PgConnection,
    f: NewFiling<'_>,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH filing AS (
             INSERT INTO filings (id, isp_id, province, kind, isp_reference, state, subject,
                                  websites, submitted_at, deadline, idempotency_key, request_hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (isp_id, idempotency_key) DO NOTHING
             RETURNING id, state, deadline),
         swept_behind AS (
             UPDATE deadline_sweep SET swept_until = filing.deadline - interval '1 microsecond'
             FROM filing
             WHERE filing.state = 'awaiting_verification'
               AND deadline_sweep.swept_until >= filing.deadline),
         resend_behind AS (
             DELETE FROM noon_days USING filing
             WHERE filing.state = 'awaiting_verification'
               AND noon_days.china_day > $13)
         SELECT id FROM filing",
    )
    .bind(super::new_id())
    .bind(f.isp_id)
    .bind(f.province)
    .bind(f.kind)
    .bind(f.isp_reference)
    .bind(f.state)
    .bind(f.subject)
    .bind(f.websites)
    .bind(f.submitted_at)
    .bind(f.deadline)
    .bind(f.idempotency_key)
    .bind(f.request_hash)
    .bind(crate::clock::china_date(f.submitted_at))
    .fetch_optional(conn)
    .await
}

/// The filing an idempotency key made, with the hash of the request that made it.
pub async fn by_idempotency_key(
    conn: &mut PgConnection,
    isp_id: Uuid,
    key: &str,
) -> Result<Option<(Uuid, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, request_hash FROM filings WHERE isp_id = $1 AND idempotency_key = $2",
    )
    .bind(isp_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub struct NewVerification<'a> {
    pub filing_id: Uuid,
    pub position: i32,
    pub mobile: &'a str,
    pub person_name: &'a str,
    pub certificate_number: &'a str,
    pub certificate_tail: &'a str,
    pub roles: Vec<&'static str>,
    pub website_indexes: Vec<i32>,
}

pub async fn insert_verification(
    conn: &mut PgConnection,
    v: NewVerification<'_>,
) -> Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO verifications (id, filing_id, position, mobile, person_name,
                                    certificate_number, certificate_tail, roles, website_indexes)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(super::new_id())
    .bind(v.filing_id)
    .bind(v.position)
    .bind(v.mobile)
    .bind(v.person_name)
    .bind(v.certificate_number)
    .bind(v.certificate_tail)
    .bind(v.roles)
    .bind(v.website_indexes)
    .fetch_one(conn)
    .await
}

/// What a flow needs to know of a filing it has locked.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Locked {
    pub state: String,
    pub return_reason: Option<String>,
    pub deadline: DateTime<Utc>,
}

/// Locks the filing's row until the transaction ends: every change to a
/// filing, its verifications or its codes takes this lock first, so the
/// rules of one filing are applied one request at a time.
pub async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<Locked, sqlx::Error> {
    sqlx::query_as("SELECT state, return_reason, deadline FROM filings WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(conn)
        .await
}

/// Locks several filings, always in the order of their ids, so that two
/// transactions locking overlapping sets cannot deadlock; returns them in
/// that order.
pub async fn lock_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Locked)>, sqlx::Error> {
    let rows: Vec<(Uuid, String, Option<String>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, state, return_reason, deadline FROM filings WHERE id = ANY($1)
         ORDER BY id FOR UPDATE",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, state, return_reason, deadline)| {
            (
                id,
                Locked {
                    state,
                    return_reason,
                    deadline,
                },
            )
        })
        .collect())
}

/// Those of these verifications that still wait, read after their filings
/// were locked (a request that verified one meanwhile has committed by then).
pub async fn still_pending(
    conn: &mut PgConnection,
    verification_ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM verifications WHERE id = ANY($1) AND state = 'pending'")
        .bind(verification_ids)
        .fetch_all(conn)
        .await
}

/// Moves the filing to review when it awaits verification and no mobile is
/// left unverified. True when it moved.
pub async fn to_review_if_verified(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE filings SET state = 'awaiting_review'
         WHERE id = $1 AND state = 'awaiting_verification'
           AND NOT EXISTS (SELECT 1 FROM verifications
                           WHERE filing_id = $1 AND state = 'pending')",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if moved.rows_affected() == 1 {
        super::events::record(
            conn,
            id,
            now,
            "state_changed",
            json!({ "state": AWAITING_REVIEW }),
        )
        .await?;
        super::webhooks::enqueue(conn, &[id], "filing.awaiting_review", now).await?;
    }
    Ok(moved.rows_affected() == 1)
}

/// Returns one filing awaiting verification to its ISP and ends its live codes.
/// True when it was returned by this call. A return for any reason but the
/// deadline is written on the timeline; the deadline's shows from the filing
/// itself ([`super::events::for_filing`]), as the sweep writes none either.
pub async fn return_to_isp(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let returned: Vec<Uuid> = sqlx::query_scalar(
        "WITH returned AS (
             UPDATE filings SET state = 'returned', return_reason = $2
             WHERE id = $1 AND state = 'awaiting_verification' RETURNING id),
         recorded AS (
             INSERT INTO events (filing_id, at, kind, detail)
             SELECT id, $3, 'state_changed',
                    jsonb_build_object('state', 'returned', 'reason', $2::text)
             FROM returned WHERE $2 <> 'verification_expired')
         SELECT id FROM returned",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    end_codes(conn, &returned, now).await?;
    super::webhooks::enqueue(conn, &returned, "filing.returned", now).await?;
    Ok(returned.len() == 1)
}

/// Ends the live codes of these filings, just returned, and cancels their SMS
/// not yet sent. A statement of its own, after the one that locked and
/// returned the filings: its snapshot then sees a code that a request issued
/// and committed just before the filing was locked, which the locking
/// statement's snapshot, taken when it began, may not.
async fn end_codes(
    conn: &mut PgConnection,
    filing_ids: &[Uuid],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if filing_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "WITH ended AS (
             UPDATE codes SET state = 'ended', ended_at = $2
             WHERE filing_id = ANY($1) AND state = 'live')
         UPDATE sms SET state = 'cancelled',
                        state_reason = 'the filing was returned before it was sent'
         WHERE filing_id = ANY($1) AND state = 'scheduled' AND due_at > $2",
    )
    .bind(filing_ids)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A place in the filings taken in deadline order, (deadline, filing id):
/// where a walk through them has got to.
pub type DeadlineKey = (DateTime<Utc>, Uuid);

/// One batch of the deadline sweep.
#[derive(Debug)]
pub struct Swept {
    /// Filings read, at most the batch size; fewer means no more are due.
    pub read: usize,
    /// The last filing read, for the next batch to go on from.
    pub last: Option<DeadlineKey>,
    /// Filings returned (`verification_expired`) by this batch.
    pub returned: Vec<Uuid>,
    /// Filings that seemed to wait but that a request held (or had just
    /// changed): the caller looks at each again on its own.
    pub held: Vec<Uuid>,
}

/// Takes up to `batch` filings whose deadline is at or before `now`, in
/// deadline order after `after`, and returns those still awaiting
/// verification, ending their codes ([`end_codes`]). A filing a request holds
/// is skipped, never waited for, so a batch cannot deadlock with flows that
/// lock several filings; it is listed in [`Swept::held`].
pub async fn return_expired(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    after: Option<DeadlineKey>,
    batch: i64,
) -> Result<Swept, sqlx::Error> {
    let (after_deadline, after_id) = after.unzip();
    #[derive(sqlx::FromRow)]
    struct Batch {
        read: i64,
        last_deadline: Option<DateTime<Utc>>,
        last_id: Option<Uuid>,
        returned: Vec<Uuid>,
        held: Vec<Uuid>,
    }
    let row: Batch = sqlx::query_as(
        "WITH due AS (
             SELECT id, deadline, state = 'awaiting_verification' AS waiting FROM filings
             WHERE deadline <= $1
               AND (deadline, id) > (coalesce($3, '-infinity'::timestamptz),
                                     coalesce($4, '00000000-0000-0000-0000-000000000000'::uuid))
             ORDER BY deadline, id LIMIT $2),
         claimed AS (
             SELECT f.id FROM due JOIN filings f ON f.id = due.id
             WHERE due.waiting AND f.state = 'awaiting_verification'
             FOR UPDATE OF f SKIP LOCKED),
         returned AS (
             UPDATE filings f SET state = 'returned', return_reason = 'verification_expired'
             FROM claimed c WHERE f.id = c.id RETURNING f.id),
         last AS (
             SELECT deadline, id FROM due ORDER BY deadline DESC, id DESC LIMIT 1)
         SELECT (SELECT count(*) FROM due) AS read,
                (SELECT deadline FROM last) AS last_deadline, (SELECT id FROM last) AS last_id,
                array(SELECT id FROM returned) AS returned,
                array(SELECT id FROM due
                      WHERE waiting AND id NOT IN (SELECT id FROM returned)) AS held",
    )
    .bind(now)
    .bind(batch)
    .bind(after_deadline)
    .bind(after_id)
    .fetch_one(&mut *conn)
    .await?;
    end_codes(conn, &row.returned, now).await?;
    super::webhooks::enqueue(conn, &row.returned, "filing.returned", now).await?;
    Ok(Swept {
        read: row.read as usize,
        last: row.last_deadline.zip(row.last_id),
        returned: row.returned,
        held: row.held,
    })
}

/// The time the last complete sweep swept up to, if one has finished.
pub async fn swept_until(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT swept_until FROM deadline_sweep")
        .fetch_optional(conn)
        .await
}

/// Where a sweep starts its walk: after the filings due at or before the
/// time the last one swept up to.
pub fn sweep_start(swept_until: Option<DateTime<Utc>>) -> Option<DeadlineKey> {
    swept_until.map(|at| (at, Uuid::max()))
}

/// Records that every filing due at or before `now` has been returned, unless
/// the record changed since this sweep read it (`from`): another sweep
/// finished first, or a filing was submitted due before it (see [`insert`]).
pub async fn finish_sweep(
    conn: &mut PgConnection,
    from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO deadline_sweep (swept_until) VALUES ($2)
         ON CONFLICT (id) DO UPDATE SET swept_until = $2
         WHERE deadline_sweep.swept_until IS NOT DISTINCT FROM $1",
    )
    .bind(from)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The earliest deadline not swept yet, for the scheduler's sleep (the filing
/// may have left waiting since; the sweep then only walks past it).
pub async fn next_deadline(conn: &mut PgConnection) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT min(deadline) FROM filings
         WHERE deadline > coalesce((SELECT swept_until FROM deadline_sweep), '-infinity')",
    )
    .fetch_one(conn)
    .await
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<FilingRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, isp_id, province, kind, isp_reference, state, return_reason, subject, websites,
                submitted_at, deadline, icp_number, reject_reason
         FROM filings WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    pub state: Option<&'a str>,
    pub province: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub isp_reference: Option<&'a str>,
    /// Only filings listed before this sequence number (paging, newest first).
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ListedFiling {
    pub seq: i64,
    #[sqlx(flatten)]
    pub filing: FilingRow,
}

pub async fn list_for_isp(
    conn: &mut PgConnection,
    isp_id: Uuid,
    filter: &ListFilter<'_>,
) -> Result<Vec<ListedFiling>, sqlx::Error> {
    sqlx::query_as(
        "SELECT seq, id, isp_id, province, kind, isp_reference, state, return_reason, subject,
                websites, submitted_at, deadline, icp_number, reject_reason
         FROM filings
         WHERE isp_id = $1
           AND ($2::text IS NULL OR state = $2)
           AND ($3::text IS NULL OR province = $3)
           AND ($4::text IS NULL OR kind = $4)
           AND ($5::text IS NULL OR isp_reference = $5)
           AND ($6::bigint IS NULL OR seq < $6)
         ORDER BY seq DESC LIMIT $7",
    )
    .bind(isp_id)
    .bind(filter.state)
    .bind(filter.province)
    .bind(filter.kind)
    .bind(filter.isp_reference)
    .bind(filter.before)
    .bind(filter.limit)
    .fetch_all(conn)
    .await
}

pub async fn verifications_of(
    conn: &mut PgConnection,
    filing_ids: &[Uuid],
) -> Result<Vec<VerificationRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, filing_id, mobile, roles, state, verified_at FROM verifications
         WHERE filing_id = ANY($1) ORDER BY filing_id, position",
    )
    .bind(filing_ids)
    .fetch_all(conn)
    .await
}

/// The masked mobiles of a filing that still wait for verification.
pub async fn pending_mobiles(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT mask_mobile(mobile) FROM verifications
         WHERE filing_id = $1 AND state = 'pending' ORDER BY position",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

/// A code typed on a province's portal, matched by mobile and code: a live
/// code, or one ended because its filing was returned (so the filer learns
/// of the return whether or not the sweep has run).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeMatch {
    pub code_id: Uuid,
    pub verification_id: Uuid,
    pub filing_id: Uuid,
    pub certificate_tail: String,
}

/// The code a person typed, live or ended by its filing's return. Only a
/// verification still pending can hold one (verifying spends the code), and
/// saying so lets the lookup start from the partial index on pending mobiles
/// rather than scan every code ever issued.
pub async fn match_code(
    conn: &mut PgConnection,
    province: &str,
    mobile: &str,
    code: &str,
) -> Result<Option<CodeMatch>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id AS code_id, v.id AS verification_id, f.id AS filing_id, v.certificate_tail
         FROM codes c
         JOIN verifications v ON v.id = c.verification_id
         JOIN filings f ON f.id = v.filing_id
         WHERE v.mobile = $2 AND v.state = 'pending' AND c.code = $3 AND f.province = $1
           AND (c.state = 'live' OR (c.state = 'ended' AND f.state = 'returned'))
         ORDER BY c.issued_at DESC LIMIT 1",
    )
    .bind(province)
    .bind(mobile)
    .bind(code)
    .fetch_optional(conn)
    .await
}

/// Filings of a province in which this mobile still waits, oldest first.
pub async fn pending_for_mobile(
    conn: &mut PgConnection,
    province: &str,
    mobile: &str,
) -> Result<Vec<(Uuid, Uuid, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.id, v.id, v.certificate_tail FROM filings f
         JOIN verifications v ON v.filing_id = f.id
         WHERE f.province = $1 AND v.mobile = $2
           AND f.state = 'awaiting_verification' AND v.state = 'pending'
         ORDER BY f.seq",
    )
    .bind(province)
    .bind(mobile)
    .fetch_all(conn)
    .await
}

/// Counts a wrong certificate typed with the right mobile and code; returns the new count.
pub async fn count_certificate_failure(
    conn: &mut PgConnection,
    verification_id: Uuid,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE verifications SET certificate_failures = certificate_failures + 1
         WHERE id = $1 RETURNING certificate_failures",
    )
    .bind(verification_id)
    .fetch_one(conn)
    .await
}

/// Spends the live code and marks its verification done. False when the code
/// was no longer live.
pub async fn use_code(
    conn: &mut PgConnection,
    code_id: Uuid,
    verification_id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let used = sqlx::query(
        "WITH used AS (
             UPDATE codes SET state = 'used', ended_at = $3
             WHERE id = $1 AND state = 'live' RETURNING verification_id)
         UPDATE verifications v SET state = 'verified', verified_at = $3
         FROM used WHERE v.id = $2 AND v.id = used.verification_id AND v.state = 'pending'",
    )
    .bind(code_id)
    .bind(verification_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(used.rows_affected() == 1)
}

/// Approves a filing awaiting review with the next ICP number of its province
/// and year; `None` when it was not awaiting review.
pub async fn approve(
    conn: &mut PgConnection,
    id: Uuid,
    icp_number: impl Fn(i32) -> String,
    year: i32,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, sqlx::Error> {
    let province: Option<String> = sqlx::query_scalar(
        "SELECT province FROM filings WHERE id = $1 AND state = 'awaiting_review' FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(province) = province else {
        return Ok(None);
    };
    let serial: i32 = sqlx::query_scalar(
        "INSERT INTO icp_sequences AS s (province, year, last) VALUES ($1, $2, 1)
         ON CONFLICT (province, year) DO UPDATE SET last = s.last + 1 RETURNING last",
    )
    .bind(&province)
    .bind(year)
    .fetch_one(&mut *conn)
    .await?;
    let number = icp_number(serial);
    sqlx::query(
        "UPDATE filings SET state = 'approved', icp_number = $2, reviewed_by = $3, reviewed_at = $4
         WHERE id = $1",
    )
    .bind(id)
    .bind(&number)
    .bind(operator)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let detail = json!({ "state": "approved", "icp_number": number, "operator": operator });
    super::events::record(conn, id, now, "state_changed", detail).await?;
    super::webhooks::enqueue(conn, &[id], "filing.approved", now).await?;
    Ok(Some(number))
}

/// Rejects a filing awaiting review; false when it was not awaiting review.
pub async fn reject(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    operator: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let rejected = sqlx::query(
        "UPDATE filings SET state = 'rejected', reject_reason = $2, reviewed_by = $3, reviewed_at = $4
         WHERE id = $1 AND state = 'awaiting_review'",
    )
    .bind(id)
    .bind(reason)
    .bind(operator)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if rejected.rows_affected() == 0 {
        return Ok(false);
    }
    let detail = json!({ "state": "rejected", "reason": reason, "operator": operator });
    super::events::record(conn, id, now, "state_changed", detail).await?;
    super::webhooks::enqueue(conn, &[id], "filing.rejected", now).await?;
    Ok(true)
}

/// What operators filter the filings list by.
#[derive(Debug, Default)]
pub struct OpsFilter<'a> {
    pub state: Option<&'a str>,
    pub province: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub isp: Option<Uuid>,
    /// Part of an ISP reference or of a domain, or a whole mobile number
    /// (of any responsible person, whether or not the filing needed SMS).
    pub search: Option<&'a str>,
    pub mobile: Option<&'a str>,
    pub before: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpsListed {
    pub seq: i64,
    pub id: Uuid,
    pub province: String,
    pub kind: String,
    pub isp_reference: String,
    pub isp_name: String,
    pub state: String,
    pub submitted_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// Every ISP's filings, newest first.
pub async fn list_all(
    conn: &mut PgConnection,
    f: &OpsFilter<'_>,
) -> Result<Vec<OpsListed>, sqlx::Error> {
    sqlx::query_as(
        "SELECT f.seq, f.id, f.province, f.kind, f.isp_reference, i.name AS isp_name, f.state,
                f.submitted_at, f.deadline
         FROM filings f JOIN isps i ON i.id = f.isp_id
         WHERE ($1::text IS NULL OR f.state = $1)
           AND ($2::text IS NULL OR f.province = $2)
           AND ($3::text IS NULL OR f.kind = $3)
           AND ($4::text IS NULL
                OR strpos(lower(f.isp_reference), lower($4)) > 0
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(f.websites) w,
                                         jsonb_array_elements_text(w -> 'domains') d
                           WHERE strpos(d, lower($4)) > 0)
                OR f.subject -> 'responsible_person' ->> 'mobile' = $5
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(f.websites) w
                           WHERE w -> 'responsible_person' ->> 'mobile' = $5))
           AND ($6::bigint IS NULL OR f.seq < $6)
           AND ($8::uuid IS NULL OR f.isp_id = $8)
         ORDER BY f.seq DESC LIMIT $7",
    )
    .bind(f.state)
    .bind(f.province)
    .bind(f.kind)
    .bind(f.search)
    .bind(f.mobile)
    .bind(f.before)
    .bind(f.limit)
    .bind(f.isp)
    .fetch_all(conn)
    .await
}

/// A verification as operators see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpsVerification {
    pub mobile: String,
    pub person_name: String,
    pub roles: Vec<String>,
    pub state: String,
    pub certificate_failures: i32,
}

pub async fn ops_verifications(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Vec<OpsVerification>, sqlx::Error> {
    sqlx::query_as(
        "SELECT mobile, person_name, roles, state, certificate_failures FROM verifications
         WHERE filing_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

pub async fn isp_name(conn: &mut PgConnection, isp_id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM isps WHERE id = $1")
        .bind(isp_id)
        .fetch_one(conn)
        .await
}
