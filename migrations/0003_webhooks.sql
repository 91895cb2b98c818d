-- Webhooks: an event for an ISP's receiver is queued in the same transaction
-- as the state change it reports, then posted by a background job until the
-- receiver answers 2xx or a day has passed. Every try is kept.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    isp_id          uuid NOT NULL REFERENCES isps (id) ON DELETE CASCADE,
    filing_id       uuid NOT NULL REFERENCES filings (id) ON DELETE CASCADE,
    event_type      text NOT NULL CHECK (event_type IN ('filing.awaiting_review', 'filing.returned',
                        'filing.approved', 'filing.rejected')),
    created_at      timestamptz NOT NULL,
    -- The body as first sent; every retry sends the same bytes.
    body            text,
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_filing ON webhook_deliveries (filing_id);
CREATE INDEX webhook_deliveries_isp ON webhook_deliveries (isp_id, created_at DESC);

CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    -- The receiver's HTTP status, or NULL when it gave none.
    status      int,
    error       text,
    duration_ms int NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
