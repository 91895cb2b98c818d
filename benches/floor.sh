#!/usr/bin/env bash
# The floor under the jobs bench's "verify p99 during a job": what a bulk
# job's write-ahead log does to a short transaction's commit on the machine it
# runs on, with nothing of beian-sms involved.
#
#     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres benches/floor.sh
#
# In a database of its own (beian_bench_floor, made anew) pgbench sends a
# transaction shaped like a verify (a dozen statements, one row written, one
# commit) 200 times a second: first alone, then beside a job that updates
# 5,000 rows to a transaction, FLOOR_JOB_RATE (default 45, about the deadline
# sweep's pace on a 2-core machine) transactions a second, for FLOOR_SECONDS
# (15) each. It prints the p99 of each phase, their
# ratio and the job's WAL rate; compare that rate with the jobs bench's
# (its MB of WAL over its seconds) before comparing the ratios.
set -euo pipefail

url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
job_rate=${FLOOR_JOB_RATE:-45}
seconds=${FLOOR_SECONDS:-15}
head=${url%%\?*}
query=${url#"$head"}
floor="${head%/*}/beian_bench_floor$query"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

PGOPTIONS='-c client_min_messages=warning' psql -qX "$url" -c "DROP DATABASE IF EXISTS beian_bench_floor WITH (FORCE)" \
    -c "CREATE DATABASE beian_bench_floor"
# A million rows about as wide as a filing, as loosely packed; a thousand
# for the verify-shaped transaction to write to.
psql -qX "$floor" <<'SQL'
CREATE TABLE job_rows (id int PRIMARY KEY, state text NOT NULL, reason text, body text NOT NULL)
    WITH (fillfactor = 45);
INSERT INTO job_rows SELECT i, 'waiting', NULL, repeat('x', 200) FROM generate_series(1, 1000000) i;
CREATE TABLE request_rows (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO request_rows SELECT i, 0 FROM generate_series(1, 1000) i;
CREATE SEQUENCE job_batches;
VACUUM (ANALYZE);
CHECKPOINT;
SQL

cat > "$work/request.sql" <<'SQL'
\set id random(1, 1000)
BEGIN;
SELECT 1;
SELECT n FROM request_rows WHERE id = :id;
SELECT 2;
SELECT 3;
SELECT 4;
UPDATE request_rows SET n = n + 1 WHERE id = :id;
SELECT 5;
SELECT 6;
SELECT 7;
SELECT 8;
COMMIT;
SQL
# Each transaction flips the next 5,000 rows, waiting <-> returned.
cat > "$work/job.sql" <<'SQL'
SELECT (nextval('job_batches') % 200) * 5000 AS first \gset
BEGIN;
UPDATE job_rows
   SET state = CASE state WHEN 'waiting' THEN 'returned' ELSE 'waiting' END,
       reason = CASE WHEN reason IS NULL THEN 'verification_expired' END
 WHERE id > :first AND id <= :first + 5000;
COMMIT;
SQL

# Runs the request load for $1 seconds; prints "p50 p99" in milliseconds.
requests() {
    rm -f "$work"/log.*
    (cd "$work" && pgbench -n -f request.sql -R 200 -c 4 -j 1 -T "$1" --log --log-prefix=log \
        "$floor" >/dev/null)
    cat "$work"/log.* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.2f %.2f\n", v[int(NR * 0.5)] / 1000, v[int(NR * 0.99)] / 1000 }'
}

wal() { psql -qAtX "$floor" -c "SELECT pg_current_wal_lsn()"; }

requests 3 >/dev/null # connections and pages warmed up
read -r idle_p50 idle_p99 < <(requests "$seconds")
echo "requests alone: p50 ${idle_p50}ms, p99 ${idle_p99}ms"

psql -qX "$floor" -c CHECKPOINT
from=$(wal)
pgbench -n -f "$work/job.sql" -R "$job_rate" -c 1 -T $((seconds + 2)) "$floor" >"$work/job.out" &
job=$!
sleep 1
read -r job_p50 job_p99 < <(requests "$seconds")
wait "$job"
to=$(wal)
mb_per_s=$(psql -qAtX "$floor" -c \
    "SELECT round(pg_wal_lsn_diff('$to', '$from') / 1048576 / ($seconds + 2), 1)")
echo "requests beside the job: p50 ${job_p50}ms, p99 ${job_p99}ms" \
    "($(awk -v a="$job_p99" -v b="$idle_p99" 'BEGIN { printf "%.1f", a / b }') x alone)"
echo "the job: ${mb_per_s} MB of WAL a second," \
    "$(grep -o "tps = [0-9]*" "$work/job.out" | head -1 | cut -d" " -f3) transactions a second"
