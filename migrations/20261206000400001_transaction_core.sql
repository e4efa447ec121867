-- Up Migration
-- The transaction core. Every resource database (the ledger and custody) runs the same
-- migrations, so each has these tables; the coordinator's rows (tx_transactions) live in the
-- ledger database.

-- One row per operation of a transaction applied in this database: what it did and how to
-- undo it. An inverse that finds no row leaves a 'fenced' one, so a late attempt applies nothing.
CREATE TABLE tx_operations (
  op_id          uuid PRIMARY KEY,
  transaction_id text NOT NULL,
  position       integer NOT NULL CHECK (position >= 0),
  type           text NOT NULL,
  state          text NOT NULL CHECK (state IN ('applied', 'undone', 'fenced')),
  result         jsonb,
  undo           jsonb,
  workflow_id    text,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tx_operations_transaction_idx ON tx_operations (transaction_id, position);

-- A transaction executed by the core: its request (by hash), mode and, for 2pc, the decision.
-- The decision is written once (first wins), by the workflow or by recovery.
CREATE TABLE tx_transactions (
  id             text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
  workflow_id    text NOT NULL,
  gid_key        uuid NOT NULL UNIQUE,
  mode           text NOT NULL CHECK (mode IN ('atomic', 'saga', '2pc')),
  request_hash   text NOT NULL,
  resources      text[] NOT NULL,
  decision       text CHECK (decision IN ('commit', 'rollback')),
  decided_by     text,
  deadline_at    timestamptz NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  decided_at     timestamptz,
  CHECK ((decision IS NULL) = (decided_at IS NULL))
);

-- A participant's mark, written inside its prepared transaction ('prepared': visible only once
-- COMMIT PREPARED ran, so a lost reply can tell committed from rolled back) or as a tombstone
-- by a rollback that found nothing prepared ('aborted': a late prepare then refuses).
CREATE TABLE tx_participants (
  gid            text PRIMARY KEY,
  transaction_id text NOT NULL,
  state          text NOT NULL CHECK (state IN ('prepared', 'aborted')),
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE tx_participants;
DROP TABLE tx_transactions;
DROP TABLE tx_operations;
