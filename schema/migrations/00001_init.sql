-- +goose Up
-- The catalogue: sellers, their products, and customers with their policy level.
CREATE TABLE sellers (
    seller_id        text PRIMARY KEY,
    name             text NOT NULL,
    endpoint         text NOT NULL,
    -- The seller's access key signs our calls. It is a secret: written by ops, read only by
    -- the seller activities, never returned by the API or logged.
    access_key       text NOT NULL,
    verify_body_sign boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    product_id          text PRIMARY KEY,
    seller_id           text NOT NULL REFERENCES sellers (seller_id),
    name                text NOT NULL,
    type                text NOT NULL CHECK (type IN ('saas', 'license', 'package', 'hardware', 'service')),
    billing_mode        text NOT NULL CHECK (billing_mode IN ('yearly', 'monthly', 'one_time', 'pay_per_use')),
    commission_bps      integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    acceptance_criteria text NOT NULL DEFAULT '',
    -- NULL: the product type's default (order-states.md: supervision off for saas only).
    supervised          boolean,
    listed              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_seller ON products (seller_id);

CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    level       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The read model of the order workflows: one row per order. The API writes it as placed
-- (seq 0); from then on only the workflow's activities write it. seq is the number of the
-- last transition applied, so that a late retry of an older projection can never overwrite
-- a newer one.
CREATE TABLE orders (
    order_id            text PRIMARY KEY,
    order_line_id       text NOT NULL,
    customer_id         text NOT NULL,
    product_id          text NOT NULL,
    seller_id           text NOT NULL,
    product_type        text NOT NULL,
    billing_mode        text NOT NULL,
    status              text NOT NULL,
    phase               text NOT NULL,
    request_fingerprint text NOT NULL,
    workflow_id         text NOT NULL,
    seq                 integer NOT NULL,
    view                jsonb NOT NULL,
    placed_at           timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX orders_page ON orders (placed_at DESC, order_id DESC);
CREATE INDEX orders_status_page ON orders (status, placed_at DESC, order_id DESC);
CREATE INDEX orders_seller_page ON orders (seller_id, placed_at DESC, order_id DESC);
CREATE INDEX orders_customer_page ON orders (customer_id, placed_at DESC, order_id DESC);
CREATE INDEX orders_product_page ON orders (product_id, placed_at DESC, order_id DESC);

-- Append-only audit trail: every transition with its actor and reason. (order_id, seq) is
-- the natural key that makes a retried activity insert nothing twice.
CREATE TABLE order_events (
    order_id    text NOT NULL REFERENCES orders (order_id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL DEFAULT '',
    event       text NOT NULL,
    from_status text NOT NULL DEFAULT '',
    to_status   text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (order_id, seq)
);

-- +goose StatementBegin
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER order_events_append_only BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Every attempt of every call to a seller. Feeds product health and ops' investigations.
CREATE TABLE seller_calls (
    call_id     bigserial PRIMARY KEY,
    order_id    text NOT NULL,
    seller_id   text NOT NULL,
    product_id  text NOT NULL DEFAULT '',
    activity    text NOT NULL,
    attempt     integer NOT NULL,
    business_id text NOT NULL DEFAULT '',
    http_status integer NOT NULL DEFAULT 0,
    result_code text NOT NULL DEFAULT '',
    latency_ms  integer NOT NULL,
    error       text NOT NULL DEFAULT '',
    called_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX seller_calls_order ON seller_calls (order_id);
CREATE INDEX seller_calls_product_time ON seller_calls (product_id, called_at);

-- One settlement per (order, kind, period): the unique key is what makes posting exactly
-- once even when the activity that posts it runs again.
CREATE TABLE settlements (
    settlement_id  bigserial PRIMARY KEY,
    order_id       text NOT NULL REFERENCES orders (order_id),
    kind           text NOT NULL CHECK (kind IN ('order', 'renewal', 'usage')),
    period_key     text NOT NULL DEFAULT '',
    seller_id      text NOT NULL,
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    gross          bigint NOT NULL CHECK (gross >= 0),
    commission_bps integer NOT NULL CHECK (commission_bps BETWEEN 0 AND 10000),
    commission     bigint NOT NULL CHECK (commission >= 0),
    net            bigint NOT NULL CHECK (net >= 0),
    status         text NOT NULL CHECK (status IN ('pending', 'settled', 'refunded')),
    reason         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, kind, period_key),
    -- A refund before posting records the gross refunded with nothing split.
    CHECK (status = 'refunded' OR commission + net = gross)
);
CREATE INDEX settlements_seller ON settlements (seller_id, created_at);

-- Double-entry lines. Each posting (post, reverse, payout) of a settlement is balanced: a
-- deferred constraint trigger checks debits = credits at commit.
CREATE TABLE ledger_entries (
    entry_id      bigserial PRIMARY KEY,
    settlement_id bigint NOT NULL REFERENCES settlements (settlement_id),
    posting       text NOT NULL CHECK (posting IN ('post', 'reverse', 'payout')),
    account       text NOT NULL CHECK (account IN ('buyer_funds', 'platform_commission', 'seller_payable', 'seller_paid_out')),
    direction     text NOT NULL CHECK (direction IN ('debit', 'credit')),
    amount        bigint NOT NULL CHECK (amount >= 0),
    currency      text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (settlement_id, posting, account, direction)
);

-- +goose StatementBegin
CREATE FUNCTION ledger_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    imbalance bigint;
BEGIN
    SELECT coalesce(sum(CASE direction WHEN 'debit' THEN amount ELSE -amount END), 0)
      INTO imbalance
      FROM ledger_entries
     WHERE settlement_id = NEW.settlement_id AND posting = NEW.posting;
    IF imbalance <> 0 THEN
        RAISE EXCEPTION 'ledger posting % of settlement % is unbalanced by %',
            NEW.posting, NEW.settlement_id, imbalance;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_balanced();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- +goose Down
DROP TABLE ledger_entries;
DROP TABLE settlements;
DROP TABLE seller_calls;
DROP TABLE order_events;
DROP TABLE orders;
DROP TABLE customers;
DROP TABLE products;
DROP TABLE sellers;
DROP FUNCTION ledger_balanced();
DROP FUNCTION forbid_change();
