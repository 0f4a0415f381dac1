-- +goose Up
-- Customer levels became V0-V5 (issue 8). The three earlier levels were invented and ranked
-- standard < gold < platinum; each keeps its rank among the top three of the new levels, so
-- no customer moves down past customers who were below them:
--   standard -> V3, gold -> V4, platinum -> V5.
-- Any other value (none should exist: the API accepted only the policy's levels) falls to
-- the default level when it is read, and is listed by this query for ops:
--   SELECT customer_id, level FROM customers WHERE level !~ '^V[0-5]$';
UPDATE customers SET level = CASE level
        WHEN 'standard' THEN 'V3'
        WHEN 'gold' THEN 'V4'
        WHEN 'platinum' THEN 'V5'
        ELSE level END,
    updated_at = now()
WHERE level IN ('standard', 'gold', 'platinum');

-- +goose Down
UPDATE customers SET level = CASE level
        WHEN 'V3' THEN 'standard'
        WHEN 'V4' THEN 'gold'
        WHEN 'V5' THEN 'platinum'
        ELSE 'standard' END,
    updated_at = now();
