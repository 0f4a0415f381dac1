-- Free trials (issue 14): a product may be tried for this many days (0: no trial).

-- +goose Up
ALTER TABLE products ADD COLUMN trial_days integer NOT NULL DEFAULT 0 CHECK (trial_days BETWEEN 0 AND 90);

-- +goose Down
ALTER TABLE products DROP COLUMN trial_days;
