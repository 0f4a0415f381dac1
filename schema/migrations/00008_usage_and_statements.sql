-- +goose Up
-- Pay-per-use usage records (seller-protocol.md, POST /v1/seller-api/usage): unique per
-- seller and meteringSn, so a resent record is a duplicate. Quantities in ten-thousandths
-- (at most 4 decimal places, exact). settlement_id is set when the record is priced into
-- a usage settlement line (a seller statement run).
CREATE TABLE usage_records (
    seller_id     text NOT NULL,
    metering_sn   text NOT NULL,
    order_id      text NOT NULL REFERENCES orders (order_id),
    instance_id   text NOT NULL,
    begin_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL CHECK (end_time >= begin_time),
    quantity_e4   bigint NOT NULL CHECK (quantity_e4 > 0),
    received_at   timestamptz NOT NULL,
    settlement_id bigint REFERENCES settlements (settlement_id),
    PRIMARY KEY (seller_id, metering_sn)
);
CREATE INDEX usage_records_unpriced ON usage_records (order_id, end_time) WHERE settlement_id IS NULL;

-- Monthly seller statements (order-states.md, section 5). A run states, for one seller and
-- one month, every posting of its settlement lines made before the month's end and not
-- stated before (the month's, and earlier ones left open); each stated posting is paid out
-- (seller payable -> paid out) or, for a reversal, clawed back, with balanced lines keyed
-- by posting, and appears in exactly one statement. statement_runs makes a rerun of a month
-- change nothing.
CREATE TABLE statement_runs (
    seller_id text NOT NULL,
    month     text NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    ran_at    timestamptz NOT NULL,
    PRIMARY KEY (seller_id, month)
);

CREATE TABLE seller_statements (
    statement_id bigserial PRIMARY KEY,
    seller_id    text NOT NULL,
    month        text NOT NULL,
    currency     text NOT NULL,
    -- Signed sums of the lines (a reversal counts negative); usage_gross is the part of
    -- gross from usage lines.
    gross        bigint NOT NULL,
    commission   bigint NOT NULL,
    net          bigint NOT NULL,
    usage_gross  bigint NOT NULL DEFAULT 0,
    line_count   integer NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (seller_id, month, currency),
    FOREIGN KEY (seller_id, month) REFERENCES statement_runs (seller_id, month)
);

CREATE TABLE statement_lines (
    statement_id  bigint NOT NULL REFERENCES seller_statements (statement_id),
    settlement_id bigint NOT NULL REFERENCES settlements (settlement_id),
    posting       text NOT NULL CHECK (posting IN ('post', 'reverse')),
    order_id      text NOT NULL,
    kind          text NOT NULL,
    period_key    text NOT NULL,
    gross         bigint NOT NULL,
    commission    bigint NOT NULL,
    net           bigint NOT NULL,
    posted_at     timestamptz NOT NULL,
    PRIMARY KEY (settlement_id, posting)
);
CREATE INDEX statement_lines_statement ON statement_lines (statement_id);
CREATE TRIGGER statement_lines_append_only BEFORE UPDATE OR DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_posting_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_posting_check
    CHECK (posting IN ('post', 'reverse', 'payout', 'clawback'));

-- +goose Down
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_posting_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_posting_check CHECK (posting IN ('post', 'reverse', 'payout'));
DROP TABLE statement_lines;
DROP TABLE seller_statements;
DROP TABLE statement_runs;
DROP TABLE usage_records;
