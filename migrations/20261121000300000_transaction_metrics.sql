-- Up Migration
-- One row per database transaction, committed or not.

CREATE TABLE transaction_metrics (
  id           bigserial PRIMARY KEY,
  operation    text NOT NULL,
  workflow_id  text,
  activity     text,
  duration_ms  double precision NOT NULL CHECK (duration_ms >= 0),
  success      boolean NOT NULL,
  error        text,
  sqlstate     text,
  attempt      integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  isolation    text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transaction_metrics_workflow_idx ON transaction_metrics (workflow_id);
CREATE INDEX transaction_metrics_created_idx ON transaction_metrics (created_at);

-- Down Migration
DROP TABLE transaction_metrics;
