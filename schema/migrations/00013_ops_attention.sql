-- Ops' case handling and attention with causes (issue 16).

-- +goose Up
-- The read model's attention: the code of the latest standing cause and since when, so
-- that GET /v1/attention lists them in keyset pages without reading every view.
ALTER TABLE orders ADD COLUMN attention_cause text;
ALTER TABLE orders ADD COLUMN attention_since timestamptz;
UPDATE orders SET attention_cause = coalesce(nullif(view->>'attentionCause', ''), 'other'),
                  attention_since = coalesce((view->>'attentionSince')::timestamptz, updated_at)
 WHERE (view->>'needsAttention')::boolean;
CREATE INDEX orders_attention ON orders (attention_since, order_id) WHERE attention_cause IS NOT NULL;

-- A line of a customer's arrears trail may say more (an order's hold overridden by ops).
ALTER TABLE arrears_events ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE arrears_events DROP COLUMN detail;
DROP INDEX orders_attention;
ALTER TABLE orders DROP COLUMN attention_since;
ALTER TABLE orders DROP COLUMN attention_cause;
