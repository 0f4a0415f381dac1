-- +goose Up
-- Sellers' access keys are kept sealed (envelope encryption, package internal/secrets): the
-- ID of the key-encryption key, the data key sealed by it, and the access key sealed by the
-- data key. The plain-text column stays only until `orders migrate` (which every start runs
-- unless MIGRATE_ON_START=false) has sealed the rows written before this migration; the
-- service never writes it again.
ALTER TABLE sellers ALTER COLUMN access_key DROP NOT NULL;
ALTER TABLE sellers
    ADD COLUMN access_key_kek    text,
    ADD COLUMN access_key_dek    bytea,
    ADD COLUMN access_key_sealed bytea;
ALTER TABLE sellers ADD CONSTRAINT sellers_sealed_key_complete CHECK (
    (access_key_kek IS NULL) = (access_key_dek IS NULL)
    AND (access_key_dek IS NULL) = (access_key_sealed IS NULL));
ALTER TABLE sellers ADD CONSTRAINT sellers_has_key CHECK (
    access_key IS NOT NULL OR access_key_sealed IS NOT NULL);
ALTER TABLE sellers ADD CONSTRAINT sellers_sealed_or_plain CHECK (
    access_key IS NULL OR access_key_sealed IS NULL);

-- +goose Down
-- Keys sealed since cannot be opened by SQL: going down loses them (ops re-enter them).
ALTER TABLE sellers DROP CONSTRAINT sellers_sealed_or_plain;
ALTER TABLE sellers DROP CONSTRAINT sellers_has_key;
ALTER TABLE sellers DROP CONSTRAINT sellers_sealed_key_complete;
ALTER TABLE sellers DROP COLUMN access_key_sealed, DROP COLUMN access_key_dek, DROP COLUMN access_key_kek;
