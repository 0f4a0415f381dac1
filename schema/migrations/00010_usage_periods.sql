-- +goose Up
-- Usage is refused for a period that overlaps one stored for the same instance (issue 13):
-- the check reads the instance's records around the new ones.
CREATE INDEX usage_records_instance_period ON usage_records (seller_id, instance_id, begin_time);

-- +goose Down
DROP INDEX usage_records_instance_period;
