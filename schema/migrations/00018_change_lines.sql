-- A change order's own settlement line (upgrades and scale-ups, issue 14).

-- +goose Up
ALTER TABLE settlements DROP CONSTRAINT settlements_kind_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_kind_check
    CHECK (kind IN ('order', 'renewal', 'usage', 'unsubscribe', 'change'));

-- +goose Down
ALTER TABLE settlements DROP CONSTRAINT settlements_kind_check;
ALTER TABLE settlements ADD CONSTRAINT settlements_kind_check
    CHECK (kind IN ('order', 'renewal', 'usage', 'unsubscribe'));
