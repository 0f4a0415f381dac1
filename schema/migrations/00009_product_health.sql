-- +goose Up
-- Product health (seller-protocol.md, "Product health"): what the daily check last found,
-- and why and when a product was delisted; relisted_at (ops listing it again) starts the
-- counting afresh, so a relisted product is not delisted again for the days before.
ALTER TABLE products ADD COLUMN health_failing_days integer NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN health_failed_orders integer NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN health_checked_at timestamptz;
ALTER TABLE products ADD COLUMN delisted_reason text NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN delisted_at timestamptz;
ALTER TABLE products ADD COLUMN relisted_at timestamptz;
CREATE INDEX order_events_provision_failed ON order_events (at) WHERE event = 'provision_failed';

-- +goose Down
DROP INDEX order_events_provision_failed;
ALTER TABLE products DROP COLUMN relisted_at;
ALTER TABLE products DROP COLUMN delisted_at;
ALTER TABLE products DROP COLUMN delisted_reason;
ALTER TABLE products DROP COLUMN health_checked_at;
ALTER TABLE products DROP COLUMN health_failed_orders;
ALTER TABLE products DROP COLUMN health_failing_days;
