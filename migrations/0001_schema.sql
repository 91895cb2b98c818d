-- The schema of beian-sms.
--
-- Conventions:
-- * Every timestamp is `timestamptz` and written from the service's clock (which
--   may be virtual), never from `now()`, so that a test can move time.
-- * States are text with a CHECK listing the allowed values; the service's
--   enums spell the same words.
-- * Races are decided by conditional UPDATEs on these tables (`... WHERE state =
--   'live' RETURNING`), and every change that touches a filing first locks the
--   filing's row, so the rules of one filing are applied one request at a time.
-- * Certificate numbers and codes are stored as given: this is an emulator
--   whose data is test data, and operators must be able to read it.

-- How a mobile is shown anywhere outside the handset: 138****5678.
CREATE FUNCTION mask_mobile(mobile text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT
    RETURN left(mobile, 3) || '****' || right(mobile, 4);

CREATE TABLE isps (
    id            uuid PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- SHA-256 of the API key, hex. The key itself is shown once and never stored.
    api_key_hash  text NOT NULL UNIQUE,
    webhook_url   text,
    webhook_secret text,
    created_at    timestamptz NOT NULL
);

CREATE TABLE filings (
    id              uuid PRIMARY KEY,
    -- Insertion order, to list filings newest first even when a frozen
    -- virtual clock gives many of them the same submitted_at.
    seq             bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    isp_id          uuid NOT NULL REFERENCES isps (id),
    province        text NOT NULL CHECK (province ~ '^[a-z]{2}$'),
    kind            text NOT NULL CHECK (kind IN ('new_filing', 'new_website', 'new_access',
                        'change', 'logout_subject', 'logout_website', 'cancel_access')),
    isp_reference   text NOT NULL,
    state           text NOT NULL CHECK (state IN ('awaiting_verification', 'awaiting_review',
                        'approved', 'rejected', 'returned')),
    return_reason   text CHECK (return_reason IN ('verification_expired',
                        'certificate_attempts_exceeded')),
    -- The filing as submitted (subject and websites), already normalised.
    subject         jsonb NOT NULL,
    websites        jsonb NOT NULL,
    submitted_at    timestamptz NOT NULL,
    deadline        timestamptz NOT NULL,
    idempotency_key text,
    -- SHA-256 of the request body, to tell a retry from a different request
    -- that reuses the same idempotency key.
    request_hash    text,
    CHECK ((state = 'returned') = (return_reason IS NOT NULL)),
    UNIQUE (isp_id, idempotency_key)
);
CREATE INDEX filings_isp_seq ON filings (isp_id, seq DESC);
CREATE INDEX filings_pending_deadline ON filings (deadline)
    WHERE state = 'awaiting_verification';

-- One row per distinct mobile of a filing: verifying it covers every role the
-- person holds in the filing.
CREATE TABLE verifications (
    id                   uuid PRIMARY KEY,
    filing_id            uuid NOT NULL REFERENCES filings (id) ON DELETE CASCADE,
    position             int NOT NULL,
    mobile               text NOT NULL CHECK (mobile ~ '^1[0-9]{10}$'),
    person_name          text NOT NULL,
    certificate_number   text NOT NULL,
    certificate_tail     text NOT NULL CHECK (certificate_tail ~ '^[0-9A-Z]{6}$'),
    -- Subset of {subject, website}; which websites is in `website_indexes`.
    roles                text[] NOT NULL,
    website_indexes      int[] NOT NULL,
    state                text NOT NULL DEFAULT 'pending'
                             CHECK (state IN ('pending', 'verified')),
    -- Wrong certificate tails typed with the right mobile and code. Belongs
    -- to the person in this filing; no resend resets it.
    certificate_failures int NOT NULL DEFAULT 0,
    verified_at          timestamptz,
    UNIQUE (filing_id, mobile),
    UNIQUE (filing_id, position)
);
CREATE INDEX verifications_mobile ON verifications (mobile) WHERE state = 'pending';

CREATE TABLE codes (
    id              uuid PRIMARY KEY,
    verification_id uuid NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    code            text NOT NULL CHECK (code ~ '^[0-9]{6}$'),
    -- live: can be typed; used: verified with; replaced: a newer code was sent;
    -- ended: the filing left awaiting_verification.
    state           text NOT NULL DEFAULT 'live'
                        CHECK (state IN ('live', 'used', 'replaced', 'ended')),
    reason          text NOT NULL CHECK (reason IN ('first', 'manual_resend', 'noon_resend')),
    issued_at       timestamptz NOT NULL,
    ended_at        timestamptz
);
-- No two live codes are equal anywhere in the emulator.
CREATE UNIQUE INDEX codes_live_unique ON codes (code) WHERE state = 'live';
CREATE INDEX codes_verification ON codes (verification_id);

CREATE TABLE handsets (
    mobile text PRIMARY KEY CHECK (mobile ~ '^1[0-9]{10}$'),
    state  text NOT NULL DEFAULT 'online' CHECK (state IN ('online', 'no_signal', 'blocking'))
);

CREATE TABLE sms (
    id            uuid PRIMARY KEY,
    seq           bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    code_id       uuid NOT NULL REFERENCES codes (id) ON DELETE CASCADE,
    filing_id     uuid NOT NULL REFERENCES filings (id) ON DELETE CASCADE,
    mobile        text NOT NULL,
    carrier       text CHECK (carrier IN ('telecom', 'unicom', 'mobile')),
    sender        text,
    body          text NOT NULL,
    -- scheduled: waiting for due_at; held: due, but the handset has no signal;
    -- delivered: in the inbox; dropped: an SMS-blocking app ate it;
    -- undeliverable: no carrier could be determined for the number.
    state         text NOT NULL CHECK (state IN ('scheduled', 'held', 'delivered', 'dropped',
                      'undeliverable')),
    state_reason  text,
    created_at    timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    delivered_at  timestamptz
);
CREATE INDEX sms_due ON sms (due_at) WHERE state = 'scheduled';
CREATE INDEX sms_mobile ON sms (mobile, seq);

CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    filing_id uuid NOT NULL REFERENCES filings (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL,
    kind      text NOT NULL,
    -- Masked mobiles and outcomes only: never a code or a certificate number.
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_filing ON events (filing_id, id);

CREATE TABLE captchas (
    id         uuid PRIMARY KEY,
    -- Upper case; answers are compared case-insensitively.
    answer     text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX captchas_expires ON captchas (expires_at);

-- Manual resends per mobile: the cooldown and the daily cap (China date).
CREATE TABLE resend_quota (
    mobile     text PRIMARY KEY,
    china_day  date NOT NULL,
    day_count  int NOT NULL,
    last_at    timestamptz NOT NULL
);

-- Verify attempts per mobile in a sliding window, against code guessing.
CREATE TABLE verify_throttle (
    mobile       text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    attempts     int NOT NULL
);

-- Portal requests per client address per minute.
CREATE TABLE ip_throttle (
    address      text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    requests     int NOT NULL
);

-- The virtual clock, shared by every instance on this database.
CREATE TABLE virtual_clock (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    now timestamptz NOT NULL
);

-- Keys the service makes for itself on first start, shared by every instance
-- (the portal forms' CSRF tokens are signed with one).
CREATE TABLE service_keys (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
