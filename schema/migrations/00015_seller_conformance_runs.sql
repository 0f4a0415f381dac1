-- +goose Up
-- Seller conformance runs (issue 14 item 7): ops check a seller's registered endpoint against
-- the seller protocol (POST /v1/sellers/{id}/conformance-runs). The run goes on in the
-- background of the API process; its row is written at the start (status running) and
-- completed at the end with every check and its evidence. A row still running after its
-- deadline belongs to a process that stopped: the API shows it as abandoned. Never a key.
CREATE TABLE seller_conformance_runs (
    run_id        text PRIMARY KEY,
    seller_id     text NOT NULL REFERENCES sellers (seller_id) ON DELETE CASCADE,
    actor         text NOT NULL,
    reason        text NOT NULL,
    endpoint      text NOT NULL,
    calls         text[] NOT NULL,
    status        text NOT NULL CHECK (status IN ('running', 'passed', 'failed', 'error')),
    started_at    timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    finished_at   timestamptz,
    failed_checks text[] NOT NULL DEFAULT '{}',
    checks        jsonb NOT NULL DEFAULT '[]',
    error         text
);
CREATE INDEX seller_conformance_runs_seller ON seller_conformance_runs (seller_id, started_at DESC, run_id DESC);

-- +goose Down
DROP TABLE seller_conformance_runs;
