-- Products that ask to be told of every paid order (orderNotify, issue 14).

-- +goose Up
ALTER TABLE products ADD COLUMN notify_orders boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE products DROP COLUMN notify_orders;
