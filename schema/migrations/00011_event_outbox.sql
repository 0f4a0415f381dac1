-- +goose Up
-- Order events out (issue 16, item 4): a transactional outbox and its subscribers.
--
-- event_outbox holds one CloudEvents envelope per audit line, written in the transaction
-- that writes the line (activities: appendOutbox), so an event exists exactly when its
-- transition does. position is the feed's order: it is drawn under a transaction-scoped
-- advisory lock taken just before commit, so positions become visible in increasing order
-- and a reader that has seen position p will never later see a smaller one appear (the
-- classic outbox gap, where a sequence value drawn earlier commits later, cannot happen).
-- The envelope is kept as the exact bytes delivered, so every delivery of an event (retry,
-- redelivery after a crash, replay) is byte-identical and carries the same id.
CREATE TABLE event_outbox (
    position   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   text NOT NULL,
    seq        integer NOT NULL,
    type       text NOT NULL,
    envelope   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, seq)
);
-- The retention sweep deletes by age.
CREATE INDEX event_outbox_created_at ON event_outbox (created_at);

-- event_subscribers are the webhook subscribers ops register. Each has one cursor: the
-- position of the last event delivered (or skipped, for a type it did not ask for). The
-- dispatcher claims a subscriber row FOR UPDATE SKIP LOCKED and holds that lock while it
-- delivers a batch in position order, then moves the cursor in the same transaction: two
-- workers never deliver to one subscriber at once, and a killed worker's batch is simply
-- delivered again (at least once, same ids, same order).
CREATE TABLE event_subscribers (
    subscriber_id     text PRIMARY KEY,
    url               text NOT NULL,
    types             text[] NOT NULL DEFAULT '{}',  -- empty: every type
    -- The signing secret, sealed like sellers' access keys (internal/secrets).
    secret_kek        text NOT NULL,
    secret_dek        bytea NOT NULL,
    secret_sealed     bytea NOT NULL,
    state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failing')),
    cursor            bigint NOT NULL DEFAULT 0,
    attempts          integer NOT NULL DEFAULT 0,
    failing_since     timestamptz,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text NOT NULL DEFAULT '',
    last_delivered_at timestamptz,
    delivered         bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE event_subscribers;
DROP TABLE event_outbox;
