-- +goose Up
-- Arrears (order-states.md, section 4): the read model of each customer's account workflow,
-- one row per customer who ever had arrears, and its audit trail. Written only by the
-- account workflow's transitions (one local activity each); read by the API (the customer's
-- arrears, ops' list, and the refusal of new pay-per-use orders of a customer in arrears).
CREATE TABLE arrears_accounts (
    customer_id    text PRIMARY KEY,
    state          text NOT NULL CHECK (state IN ('none', 'grace', 'frozen', 'released')),
    case_id        text NOT NULL DEFAULT '',
    outstanding    bigint NOT NULL DEFAULT 0 CHECK (outstanding >= 0),
    currency       text NOT NULL DEFAULT '',
    since          timestamptz,
    grace_ends     timestamptz,
    retention_ends timestamptz,
    seq            integer NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX arrears_accounts_state_page ON arrears_accounts (state, updated_at DESC, customer_id DESC);

CREATE TABLE arrears_events (
    customer_id text NOT NULL,
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    event       text NOT NULL,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    case_id     text NOT NULL DEFAULT '',
    amount      bigint NOT NULL DEFAULT 0,
    currency    text NOT NULL DEFAULT '',
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL DEFAULT '',
    PRIMARY KEY (customer_id, seq)
);
CREATE TRIGGER arrears_events_append_only BEFORE UPDATE OR DELETE ON arrears_events
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- +goose Down
DROP TABLE arrears_events;
DROP TABLE arrears_accounts;
