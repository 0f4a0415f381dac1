-- +goose Up
-- Idempotency-Key of the action POSTs (api.md "Idempotency"): the first answer to a key is
-- kept for IDEMPOTENCY_TTL, so a repeat gets it back even after the order's workflow has
-- closed or continued as new, and concurrent repeats run the action once. A key belongs to
-- its caller (token role and actor); reusing it for another request is a conflict.
CREATE TABLE idempotency_keys (
    caller       text NOT NULL,
    key          text NOT NULL,
    -- Method and path of the first request, and a hash of method, path and canonical body.
    route        text NOT NULL,
    request_hash text NOT NULL,
    state        text NOT NULL CHECK (state IN ('running', 'done')),
    -- The answer, once done.
    status       integer,
    content_type text,
    response     bytea,
    created_at   timestamptz NOT NULL,
    -- A running key whose request died with its process is taken over after this.
    locked_until timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (caller, key),
    CHECK (state = 'running' OR (status IS NOT NULL AND response IS NOT NULL))
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Nonces of signed seller open API calls seen within the timestamp window: a repeat is a
-- replay and is refused. In PostgreSQL, so that every API replica sees every nonce.
CREATE TABLE seller_api_nonces (
    seller_id text NOT NULL,
    nonce     text NOT NULL,
    seen_at   timestamptz NOT NULL,
    PRIMARY KEY (seller_id, nonce)
);
CREATE INDEX seller_api_nonces_seen ON seller_api_nonces (seen_at);

-- +goose Down
DROP TABLE seller_api_nonces;
DROP TABLE idempotency_keys;
