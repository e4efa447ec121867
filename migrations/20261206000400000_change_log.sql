-- Up Migration
-- The change log: one row per change txmgr commits, written in the same transaction as the
-- change. `xid` is the writing transaction's id (xid8): readers follow the log ordered by
-- (xid, id) and read only below the oldest transaction still in flight
-- (pg_snapshot_xmin(pg_current_snapshot())), so a row that commits late is never skipped
-- (a plain sequence is taken before commit and can become visible behind a reader's cursor).
CREATE TABLE change_log (
  id           bigserial PRIMARY KEY,
  xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
  entity       text NOT NULL,
  entity_id    text NOT NULL,
  change       text NOT NULL,
  data         jsonb NOT NULL,
  workflow_id  text,
  -- The accounts ("account:<id>") whose changes this one is causally ordered with.
  causal_keys  text[] NOT NULL DEFAULT '{}',
  -- Hybrid logical clock: wall-clock ms, logical counter, writing worker.
  hlc_wall     bigint NOT NULL CHECK (hlc_wall >= 0),
  hlc_logical  integer NOT NULL CHECK (hlc_logical >= 0),
  hlc_node     text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX change_log_cursor_idx ON change_log (xid, id);
CREATE INDEX change_log_entity_idx ON change_log (entity, entity_id);

-- The last clock stamped for a causal key (an account): a writer merges it before stamping,
-- so the changes of one account are ordered causally across workers.
CREATE TABLE change_clocks (
  key          text PRIMARY KEY,
  hlc_wall     bigint NOT NULL,
  hlc_logical  integer NOT NULL,
  hlc_node     text NOT NULL
);

-- Down Migration
DROP TABLE change_clocks;
DROP TABLE change_log;
