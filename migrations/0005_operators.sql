-- Operators, their sign-in sessions, and the review of filings.

CREATE TABLE operators (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    -- An argon2id PHC string; the password itself is never stored.
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);

-- A signed-in browser. The cookie holds a random token; only its SHA-256 is
-- kept, so a copy of this table signs nobody in.
CREATE TABLE operator_sessions (
    token_hash  text PRIMARY KEY,
    operator_id uuid NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    -- Every form of the operator pages carries it back.
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX operator_sessions_expires ON operator_sessions (expires_at);

-- The last ICP number given in each province and year: numbers are
-- sequential per province and year, and the row lock makes them unique.
CREATE TABLE icp_sequences (
    province text NOT NULL,
    year     int NOT NULL,
    last     int NOT NULL,
    PRIMARY KEY (province, year)
);

ALTER TABLE filings
    ADD COLUMN icp_number    text UNIQUE,
    ADD COLUMN reject_reason text,
    ADD COLUMN reviewed_by   text,
    ADD COLUMN reviewed_at   timestamptz,
    ADD CHECK ((state = 'approved') = (icp_number IS NOT NULL)),
    ADD CHECK ((state = 'rejected') = (reject_reason IS NOT NULL));
