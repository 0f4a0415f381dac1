-- +goose Up
-- Appeals (order-states.md, section 3): one row per appeal, with its history in
-- appeal_events. Written by the order workflow's transitions, read by ops' appeal list.
CREATE TABLE appeals (
    appeal_id        text PRIMARY KEY,
    order_id         text NOT NULL REFERENCES orders (order_id),
    state            text NOT NULL CHECK (state IN ('open', 'resolved')),
    tier             integer NOT NULL CHECK (tier >= 1),
    raised_by_kind   text NOT NULL,
    raised_by_id     text NOT NULL DEFAULT '',
    reason           text NOT NULL,
    evidence         jsonb NOT NULL DEFAULT '[]'::jsonb,
    outcome          text NOT NULL DEFAULT '' CHECK (outcome IN ('', 'continue', 'accept', 'refund')),
    note             text NOT NULL DEFAULT '',
    resolved_by_kind text NOT NULL DEFAULT '',
    resolved_by_id   text NOT NULL DEFAULT '',
    raised_at        timestamptz NOT NULL,
    escalate_at      timestamptz,
    resolved_at      timestamptz,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX appeals_state_page ON appeals (state, raised_at DESC, appeal_id DESC);
CREATE INDEX appeals_order ON appeals (order_id);

-- Who raised, escalated and resolved an appeal, and why: append-only, one line per
-- (appeal, kind, tier), so a retried write adds nothing.
CREATE TABLE appeal_events (
    appeal_id  text NOT NULL REFERENCES appeals (appeal_id),
    kind       text NOT NULL CHECK (kind IN ('raised', 'escalated', 'resolved')),
    tier       integer NOT NULL,
    at         timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_id   text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (appeal_id, kind, tier)
);
CREATE TRIGGER appeal_events_append_only BEFORE UPDATE OR DELETE ON appeal_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Reviews (seed row 20): one per accepted order, by its buyer.
CREATE TABLE reviews (
    order_id       text PRIMARY KEY REFERENCES orders (order_id),
    product_id     text NOT NULL,
    customer_id    text NOT NULL,
    quality        smallint NOT NULL CHECK (quality BETWEEN 1 AND 5),
    after_sales    smallint NOT NULL CHECK (after_sales BETWEEN 1 AND 5),
    delivery_speed smallint NOT NULL CHECK (delivery_speed BETWEEN 1 AND 5),
    tags           text[] NOT NULL DEFAULT '{}',
    text           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL
);
CREATE INDEX reviews_product ON reviews (product_id);

-- Licences of licence products, sealed like sellers' keys (internal/secrets): the buyer's
-- asset, shown in full only to the order's buyer. The workflow knows only sha256 and the
-- masked form. One licence per order: a resend must be the same licence.
CREATE TABLE order_licenses (
    order_id    text PRIMARY KEY,
    sha256      text NOT NULL,
    masked      text NOT NULL,
    via         text NOT NULL,
    kek         text NOT NULL,
    dek         bytea NOT NULL,
    sealed      bytea NOT NULL,
    received_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE order_licenses;
DROP TABLE reviews;
DROP TABLE appeal_events;
DROP TABLE appeals;
