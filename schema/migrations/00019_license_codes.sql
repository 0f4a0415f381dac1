-- Licence codes (License 2.0, issue 14 item 5): a licence product may have the marketplace
-- generate a code per order (products.license_code). The code itself is sealed in
-- order_licenses like any licence (via 'generated'); license_codes finds an order by the
-- SHA-256 of a code the seller's software presents, and says when the buyer was first shown
-- it (activation before that is refused: the code cannot have come from the buyer).
-- license_code_heartbeats keeps one row per code and day of use.

-- +goose Up
ALTER TABLE products ADD COLUMN license_code boolean NOT NULL DEFAULT false;

CREATE TABLE license_codes (
    order_id    text PRIMARY KEY,
    seller_id   text NOT NULL,
    sha256      text NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL,
    received_at timestamptz
);

CREATE TABLE license_code_heartbeats (
    order_id text NOT NULL REFERENCES license_codes (order_id),
    day      date NOT NULL,
    first_at timestamptz NOT NULL,
    last_at  timestamptz NOT NULL,
    beats    integer NOT NULL DEFAULT 1 CHECK (beats > 0),
    PRIMARY KEY (order_id, day)
);

-- +goose Down
DROP TABLE license_code_heartbeats;
DROP TABLE license_codes;
ALTER TABLE products DROP COLUMN license_code;
