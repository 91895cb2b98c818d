-- The daily noon resend: one row per mobile of a filing and China date it
-- was resent on. The primary key makes a second run, a second instance or a
-- retry after a crash a no-op.
CREATE TABLE noon_resends (
    verification_id uuid NOT NULL REFERENCES verifications (id) ON DELETE CASCADE,
    china_day       date NOT NULL,
    PRIMARY KEY (verification_id, china_day)
);
