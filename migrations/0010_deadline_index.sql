-- The sweep walks the filings themselves in deadline order, from where the
-- last complete sweep stopped, instead of a queue it had to delete a row
-- from for every filing it returned.
--
-- The index holds no state, so returning a filing is still a heap-only
-- update. The walk reads verified filings too, but only those whose
-- deadline fell since the last sweep, and only reads them.
CREATE INDEX filings_deadline ON filings (deadline, id);
DROP TABLE deadlines;

-- Every filing still awaiting verification whose deadline is at or before
-- `swept_until` has been returned: a sweep writes the time it swept up to
-- once it has returned everything due, so one that stops half way (a crash,
-- a lost connection) leaves the next to walk its range again, which only
-- reads what the first returned. At most one row.
CREATE TABLE deadline_sweep (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    swept_until timestamptz NOT NULL
);

-- A filing returned at its deadline shows that on its timeline from the
-- filing itself (its state, its reason, its deadline), so a sweep of a
-- million filings does not write a million timeline rows. The rows written
-- for that before would now show twice.
DELETE FROM events
WHERE kind = 'state_changed' AND detail->>'reason' = 'verification_expired';
