-- +goose Up
-- Settlement lines of issue 8: a line may be due but blocked (an open appeal; pay-per-use
-- charges of a customer in arrears) before its ledger lines are posted, and an
-- unsubscription's refund is a line of its own (reversing lines only).
ALTER TABLE settlements DROP CONSTRAINT settlements_status_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_status_check
    CHECK (status IN ('blocked', 'pending', 'settled', 'refunded'));
ALTER TABLE settlements DROP CONSTRAINT settlements_kind_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_kind_check
    CHECK (kind IN ('order', 'renewal', 'usage', 'unsubscribe'));

-- Pay-per-use (issue 8): a product's price per unit of usage (integer minor units per unit),
-- required for pay_per_use products; each order keeps the price it was placed at, and the
-- instance the seller made, so usage records can be matched and priced.
ALTER TABLE products ADD COLUMN unit_price bigint CHECK (unit_price >= 0);
ALTER TABLE products ADD COLUMN unit_price_currency text CHECK (unit_price_currency ~ '^[A-Z]{3}$');
ALTER TABLE orders ADD COLUMN unit_price bigint;
ALTER TABLE orders ADD COLUMN instance_id text;
CREATE INDEX orders_seller_instance ON orders (seller_id, instance_id) WHERE instance_id IS NOT NULL;

-- +goose Down
DROP INDEX orders_seller_instance;
ALTER TABLE orders DROP COLUMN instance_id;
ALTER TABLE orders DROP COLUMN unit_price;
ALTER TABLE products DROP COLUMN unit_price_currency;
ALTER TABLE products DROP COLUMN unit_price;
ALTER TABLE settlements DROP CONSTRAINT settlements_kind_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_kind_check CHECK (kind IN ('order', 'renewal', 'usage'));
ALTER TABLE settlements DROP CONSTRAINT settlements_status_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_status_check CHECK (status IN ('pending', 'settled', 'refunded'));
