-- +goose Up
-- The audit trail of ops' own actions that are not a transition of one order (issue 16): a
-- health check run by hand, an order workflow restarted from the read model, and whatever
-- ops action comes next. One line per action: who (X-Actor-Id), what, on what, and why.
-- Append-only; detail holds what the action started (workflow and run IDs) or found.
CREATE TABLE ops_actions (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL,
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    reason text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ops_actions_target ON ops_actions (target, at);
CREATE INDEX ops_actions_at ON ops_actions (at);

-- The order's start input as the API placed it (order.StartInput), so that an order whose
-- workflow was lost can be started again with exactly the terms it was placed under.
-- Orders placed before this column have none: a restart rebuilds their input from the view,
-- the catalogue and the current policy.
ALTER TABLE orders ADD COLUMN start_input jsonb;

-- +goose Down
ALTER TABLE orders DROP COLUMN start_input;
DROP TABLE ops_actions;
