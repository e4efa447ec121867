-- Up Migration
-- `attempt` is the activity's attempt (Temporal's retries); `local_retry` counts the
-- in-process retries of serialization failures and deadlocks within that attempt.
ALTER TABLE transaction_metrics ADD COLUMN local_retry integer NOT NULL DEFAULT 0 CHECK (local_retry >= 0);

-- Down Migration
ALTER TABLE transaction_metrics DROP COLUMN local_retry;
