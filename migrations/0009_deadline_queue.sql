-- Returning a filing at its deadline, cheaply enough that a million of them
-- take seconds.
--
-- A filing's state no longer appears in any index, not even in a partial
-- index's predicate, and its pages keep half their room free, so that moving
-- it from one state to the next is a heap-only (HOT) update: a new version of
-- the row beside the old one on the same page, and not a new entry in each of
-- the table's indexes. New pages only; rows already stored stay where they are.
DROP INDEX filings_pending_deadline;
DROP INDEX filings_pending_seq;
ALTER TABLE filings SET (fillfactor = 50);

-- The deadlines still to enforce, one row per filing submitted awaiting
-- verification, in deadline order. The sweep takes the rows that are due and
-- returns those of their filings still waiting; a filing that left waiting
-- earlier (verified, or returned by a request) keeps its row until then,
-- so requests never touch this table. The noon resend walks it too: every
-- filing that can still be resent to is here.
CREATE TABLE deadlines (
    deadline  timestamptz NOT NULL,
    filing_id uuid NOT NULL,
    PRIMARY KEY (deadline, filing_id)
);
INSERT INTO deadlines (deadline, filing_id)
SELECT deadline, id FROM filings WHERE state = 'awaiting_verification';

-- The timeline is written in the same transaction as the change it records,
-- and filings are only ever removed all at once (TRUNCATE), so the foreign
-- key would only check, on every event written, what cannot be otherwise.
-- Events are only ever read by filing, so that is their key: one index to
-- write per event instead of two.
ALTER TABLE events DROP CONSTRAINT events_filing_id_fkey;
ALTER TABLE events DROP CONSTRAINT events_pkey;
DROP INDEX events_filing;
ALTER TABLE events ADD PRIMARY KEY (filing_id, id);

-- The noon resend writes a claim and an SMS per mobile. The claim is a
-- marker the resend writes for a verification it has just read under its
-- filing's lock, and an SMS's filing is a shortcut past its code (which keeps
-- its own key): neither is worth a lookup per row written.
ALTER TABLE noon_resends DROP CONSTRAINT noon_resends_verification_id_fkey;
ALTER TABLE sms DROP CONSTRAINT sms_filing_id_fkey;
