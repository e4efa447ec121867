-- Up Migration
-- Holds released before they were placed. A compensation may run while its step's
-- attempt is still in flight (or after the saga gave up on it); the tombstone makes
-- that late attempt place nothing instead of leaving a hold no saga will release.
CREATE TABLE hold_tombstones (
  id          uuid PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE hold_tombstones;
