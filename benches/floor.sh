#!/usr/bin/env bash
# The floor under the jobs bench's "verify p99 during a job": what a bulk
# job's write-ahead log does to a short transaction's commit on the machine it
# runs on, with nothing of beian-sms involved.
#
#     DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres benches/floor.sh
#
# In a database of its own (beian_bench_floor, made anew and dropped at the
# end) pgbench sends a transaction shaped like a verify (a dozen statements,
# one row written, one commit) 200 times a second: first alone, then beside a
# job that returns 5,000 waiting rows to a transaction, each row once, as the
# deadline sweep does, FLOOR_JOB_RATE transactions a second (default 30:
# 150,000 rows a second, the sweep's pace on a 2-core machine). Each phase
# lasts FLOOR_SECONDS (15). It prints the p99 of each phase, their ratio and
# the job's WAL rate; compare that rate with the jobs bench's (its MB of WAL
# over its seconds) before comparing the ratios. It measures the server it is
# given, with that server's settings, and needs psql and pgbench on the PATH.
set -euo pipefail

url=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
job_rate=${FLOOR_JOB_RATE:-30}
seconds=${FLOOR_SECONDS:-15}
batch=5000
head=${url%%\?*}
case $head in
*://*/*) ;;
*)
    echo "DATABASE_URL must be a URL naming a database, such as postgres://postgres@127.0.0.1:5432/postgres" >&2
    exit 2
    ;;
esac
query=${url#"$head"}
floor="${head%/*}/beian_bench_floor$query"
work=$(mktemp -d)
admin() { PGOPTIONS='-c client_min_messages=warning' psql -qX "$url" "$@"; }
trap 'rm -rf "$work"; admin -c "DROP DATABASE IF EXISTS beian_bench_floor WITH (FORCE)"' EXIT

admin -c "DROP DATABASE IF EXISTS beian_bench_floor WITH (FORCE)" -c "CREATE DATABASE beian_bench_floor"
# Rows about as wide as a filing and as loosely packed, as many as the job
# will return, so that each is changed once and the first change of each page
# after the checkpoint logs the whole page, as in the sweep; a thousand rows
# for the verify-shaped transaction to write to. Vacuumed and checkpointed, so
# that the first phase does not measure the seeding's aftermath.
rows=$((job_rate * (seconds + 2) * batch))
psql -qX -v rows="$rows" "$floor" <<'SQL'
CREATE TABLE job_rows (id int PRIMARY KEY, state text NOT NULL, reason text, body text NOT NULL)
    WITH (fillfactor = 45);
INSERT INTO job_rows SELECT i, 'waiting', NULL, repeat('x', 200) FROM generate_series(1, :rows) i;
CREATE TABLE request_rows (id int PRIMARY KEY, n int NOT NULL);
INSERT INTO request_rows SELECT i, 0 FROM generate_series(1, 1000) i;
CREATE SEQUENCE job_batches START 0 MINVALUE 0;
VACUUM (ANALYZE);
CHECKPOINT;
SQL

cat >"$work/request.sql" <<'SQL'
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
cat >"$work/job.sql" <<SQL
SELECT nextval('job_batches') * $batch AS first \gset
BEGIN;
UPDATE job_rows SET state = 'returned', reason = 'verification_expired'
 WHERE id > :first AND id <= :first + $batch AND state = 'waiting';
COMMIT;
SQL

# Runs the request load for $1 seconds; prints "p50 p99" in milliseconds
# (nearest rank).
requests() {
    rm -f "$work"/log.*
    (cd "$work" && pgbench -n -f request.sql -R 200 -c 4 -j 1 -T "$1" --log --log-prefix=log \
        "$floor" >/dev/null)
    cat "$work"/log.* | awk '{ print $3 }' | sort -n | awk '
        function rank(p) { r = int(NR * p); return r < NR * p ? r + 1 : r }
        { v[NR] = $1 }
        END { if (NR == 0) exit 1; printf "%.2f %.2f\n", v[rank(0.5)] / 1000, v[rank(0.99)] / 1000 }'
}

wal() { psql -qAtX "$floor" -c "SELECT pg_current_wal_lsn()"; }

requests 3 >/dev/null # connections and pages warmed up
alone=$(requests "$seconds")
read -r alone_p50 alone_p99 <<<"$alone"
echo "requests alone: p50 ${alone_p50}ms, p99 ${alone_p99}ms"

psql -qX "$floor" -c CHECKPOINT
from=$(wal)
pgbench -n -f "$work/job.sql" -R "$job_rate" -c 1 -T $((seconds + 2)) "$floor" >"$work/job.out" &
job=$!
sleep 1
beside=$(requests "$seconds")
wait "$job"
to=$(wal)
read -r beside_p50 beside_p99 <<<"$beside"
mb_per_s=$(psql -qAtX "$floor" -c \
    "SELECT round(pg_wal_lsn_diff('$to', '$from') / 1048576 / ($seconds + 2), 1)")
job_tps=$(awk '/^tps = / { printf "%.1f", $3; exit }' "$work/job.out")
echo "requests beside the job: p50 ${beside_p50}ms, p99 ${beside_p99}ms" \
    "($(awk -v a="$beside_p99" -v b="$alone_p99" 'BEGIN { printf "%.1f", a / b }') x alone)"
echo "the job: ${mb_per_s} MB of WAL a second, ${job_tps} transactions a second"
