-- Filings still waiting, in submission order: the noon resend walks them in
-- batches, each going on from the last filing the one before it read.
CREATE INDEX filings_pending_seq ON filings (seq) WHERE state = 'awaiting_verification';

-- A China date whose daily resend reached every mobile it was due to. Later
-- runs that day (the scheduler runs the due jobs at each wake) stop at once
-- instead of walking the waiting filings again. No mobile can become due for
-- a day after its run: only filings submitted before that day qualify.
CREATE TABLE noon_days (
    china_day   date PRIMARY KEY,
    finished_at timestamptz NOT NULL
);
