-- +goose Up
-- Issue 16, items 3 and 5: sellers' key rotation with overlap, per-seller call limits set
-- through the API and shared by every worker process, and the usage records a seller was
-- refused (so the seller open API can list every record it sent, with its outcome).

-- Key state. The active key stays in access_key_*; a rotation puts the new key beside it,
-- sealed the same way (same additional data, so confirming moves the sealed bytes as they
-- are). Fingerprints are 8 hex characters of SHA-256 (sellerkeys.Fingerprint): enough to
-- tell two keys apart, far too little to recover one. Keys set before this migration have
-- no fingerprint or time until they are changed.
ALTER TABLE sellers
    ADD COLUMN key_fingerprint         text,
    ADD COLUMN key_created_at          timestamptz,
    ADD COLUMN pending_key_kek         text,
    ADD COLUMN pending_key_dek         bytea,
    ADD COLUMN pending_key_sealed      bytea,
    ADD COLUMN pending_key_fingerprint text,
    ADD COLUMN pending_key_created_at  timestamptz,
    -- Per-seller call limits set by ops (PUT /v1/sellers/{id}/limits); NULL = the policy's.
    ADD COLUMN calls_per_second        double precision CHECK (calls_per_second > 0 AND calls_per_second <= 10000),
    ADD COLUMN call_concurrency        integer CHECK (call_concurrency BETWEEN 1 AND 1000),
    ADD COLUMN limits_updated_at       timestamptz;
ALTER TABLE sellers ADD CONSTRAINT sellers_pending_key_complete CHECK (
    (pending_key_kek IS NULL) = (pending_key_dek IS NULL)
    AND (pending_key_dek IS NULL) = (pending_key_sealed IS NULL)
    AND (pending_key_sealed IS NULL) = (pending_key_created_at IS NULL));
ALTER TABLE sellers ADD CONSTRAINT sellers_limits_both CHECK (
    (calls_per_second IS NULL) = (call_concurrency IS NULL));

-- A seller call made while the seller's key was being rotated: its 000001 answers are the
-- rotation's, not the seller's failing, and product health does not count them.
ALTER TABLE seller_calls ADD COLUMN during_key_rotation boolean NOT NULL DEFAULT false;

-- The shared per-seller call limiter (activities.SellerGates). Rate: one row per call a
-- second allows; a call takes the row used longest ago, and only once that use is a
-- window (1 s and a margin) old, so no window ever holds more calls than rows. Concurrency:
-- one row per call at once, leased for a bounded time so a worker that dies mid-call frees
-- its slot when the lease runs out.
CREATE TABLE seller_rate_slots (
    seller_id text NOT NULL,
    slot      integer NOT NULL,
    used_at   timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (seller_id, slot)
);
CREATE INDEX seller_rate_slots_oldest ON seller_rate_slots (seller_id, used_at);
CREATE TABLE seller_call_leases (
    seller_id   text NOT NULL,
    slot        integer NOT NULL,
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    holder      uuid,
    PRIMARY KEY (seller_id, slot)
);

-- Usage records refused for one of the seller's orders (the instance is one of its
-- orders'): what the seller sent, why it was refused, and when (first and last time; a
-- resend with the same reason counts, it is not a new row). Records whose instance is no
-- order of the seller's are answered, never kept: they belong to no order to list them by.
CREATE TABLE usage_refusals (
    seller_id        text NOT NULL,
    metering_sn      text NOT NULL,
    reason           text NOT NULL,
    order_id         text NOT NULL REFERENCES orders (order_id),
    instance_id      text NOT NULL,
    begin_time       text NOT NULL,
    end_time         text NOT NULL,
    usage_value      text NOT NULL,
    -- When the record is listed at (and so its month): its beginTime when that reads as
    -- RFC 3339, else when it was first received.
    listed_at        timestamptz NOT NULL,
    received_at      timestamptz NOT NULL,
    last_received_at timestamptz NOT NULL,
    times            integer NOT NULL DEFAULT 1,
    PRIMARY KEY (seller_id, metering_sn, reason)
);
CREATE INDEX usage_refusals_order_listed ON usage_refusals (order_id, listed_at);
CREATE INDEX usage_records_order_begin ON usage_records (order_id, begin_time);

-- +goose Down
DROP INDEX usage_records_order_begin;
DROP TABLE usage_refusals;
DROP TABLE seller_call_leases;
DROP TABLE seller_rate_slots;
ALTER TABLE seller_calls DROP COLUMN during_key_rotation;
ALTER TABLE sellers DROP CONSTRAINT sellers_limits_both;
ALTER TABLE sellers DROP CONSTRAINT sellers_pending_key_complete;
ALTER TABLE sellers
    DROP COLUMN limits_updated_at, DROP COLUMN call_concurrency, DROP COLUMN calls_per_second,
    DROP COLUMN pending_key_created_at, DROP COLUMN pending_key_fingerprint, DROP COLUMN pending_key_sealed,
    DROP COLUMN pending_key_dek, DROP COLUMN pending_key_kek, DROP COLUMN key_created_at, DROP COLUMN key_fingerprint;
