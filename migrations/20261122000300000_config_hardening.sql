-- Up Migration
-- Config transactions written with human amounts ("5000.00" USD) are told apart from those
-- written before in minor units: rows recorded before this migration keep their meaning.
ALTER TABLE config_transactions
  ADD COLUMN amount_format text NOT NULL DEFAULT 'minor' CHECK (amount_format IN ('minor', 'human'));

-- A reused transaction id with a different kind or payload: nothing applied, the submission
-- recorded here with what differs, so a fire-and-forget sender can find out.
CREATE TABLE config_conflicts (
  transaction_id  text NOT NULL REFERENCES config_transactions (id),
  -- The siphon's ticket of the conflicting submission: one row per submission, however often retried.
  ticket          text NOT NULL,
  kind            text NOT NULL,
  payload         jsonb NOT NULL,
  source          text NOT NULL,
  differences     text NOT NULL,
  workflow_id     text,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (transaction_id, ticket)
);
CREATE INDEX config_conflicts_recorded_at ON config_conflicts (recorded_at DESC);

-- Down Migration
DROP TABLE config_conflicts;
ALTER TABLE config_transactions DROP COLUMN amount_format;
