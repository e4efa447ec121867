-- Up Migration
-- The change log for the sagas' domain rows (deposits, orders, trades, fills, withdrawals,
-- campaigns, campaign state and rewards), written by row triggers in the writing transaction:
-- every insert, update and delete leaves its entry, whatever code path made it, so a new
-- statement in a saga cannot forget one (a helper call next to each write would have to be
-- remembered at some twenty places in four areas, and in every one added later). The ledger's
-- own changes (transfers, holds, accounts) keep their explicit entries (src/db/changes.ts),
-- which name the business change.
--
-- Stamps stay the worker's hybrid logical clock: withTransaction sets `txmgr.hlc` to a fresh
-- stamp of the worker's clock when the transaction begins ("<wall>:<logical>:<node>");
-- `txmgr_append_change` stamps an entry above both the transaction's last stamp and the last
-- stamp of every account it touches (change_clocks, locked), records its stamp as the
-- transaction's last (`txmgr.hlc_last`), and the worker merges that back into its clock when it
-- commits. So a worker's stamps never go below one it gave out before, and one account's
-- changes are causally ordered across workers, as for the ledger's entries; two unrelated
-- transactions running at once on one worker may share a stamp (the node and the log's
-- (xid, id) order break the tie). A write outside any worker transaction (an operator's SQL)
-- is stamped from the database's clock under the node "db:<database>".

-- Row data as the log carries it: numbers as decimal strings (money is numeric(38,0), which a
-- JSON number would round in JavaScript).
CREATE FUNCTION txmgr_change_data(row_data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_object_agg(key, CASE WHEN jsonb_typeof(value) = 'number' THEN to_jsonb(value #>> '{}') ELSE value END), '{}'::jsonb)
    FROM jsonb_each(row_data)
$$;

CREATE FUNCTION txmgr_append_change(p_entity text, p_entity_id text, p_change text, p_data jsonb, p_workflow_id text, p_keys text[])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  last_stamp  text := nullif(current_setting('txmgr.hlc_last', true), '');
  base        text := coalesce(last_stamp, nullif(current_setting('txmgr.hlc', true), ''));
  keys        text[] := ARRAY(SELECT DISTINCT k FROM unnest(p_keys) AS k WHERE k IS NOT NULL ORDER BY k);
  base_wall   bigint;
  base_logic  integer;
  node        text;
  seen_wall   bigint;
  wall        bigint;
  logical     integer;
  entry_id    bigint;
BEGIN
  IF base IS NULL THEN
    base_wall := floor(extract(epoch FROM clock_timestamp()) * 1000);
    base_logic := -1;
    node := 'db:' || current_database();
  ELSE
    base_wall := split_part(base, ':', 1)::bigint;
    base_logic := split_part(base, ':', 2)::integer;
    node := substr(base, length(split_part(base, ':', 1)) + length(split_part(base, ':', 2)) + 3);
    -- The worker's begin stamp is fresh (given out by its clock, used by nothing yet): the first entry may take it.
    IF last_stamp IS NULL THEN
      base_logic := base_logic - 1;
    END IF;
  END IF;
  -- Lock the accounts' clocks in key order, as appendChange does.
  PERFORM 1 FROM change_clocks WHERE key = ANY (keys) ORDER BY key FOR UPDATE;
  SELECT max(hlc_wall) INTO seen_wall FROM change_clocks WHERE key = ANY (keys);
  wall := greatest(base_wall, seen_wall);
  logical := CASE WHEN wall = base_wall THEN base_logic ELSE -1 END;
  logical := greatest(logical, (SELECT max(hlc_logical) FROM change_clocks WHERE key = ANY (keys) AND hlc_wall = wall)) + 1;

  INSERT INTO change_log (entity, entity_id, change, data, workflow_id, hlc_wall, hlc_logical, hlc_node, causal_keys)
  VALUES (p_entity, p_entity_id, p_change, p_data, p_workflow_id, wall, logical, node, keys)
  RETURNING id INTO entry_id;
  INSERT INTO change_clocks (key, hlc_wall, hlc_logical, hlc_node)
  SELECT k, wall, logical, node FROM unnest(keys) AS k
  ON CONFLICT (key) DO UPDATE SET hlc_wall = excluded.hlc_wall, hlc_logical = excluded.hlc_logical, hlc_node = excluded.hlc_node;
  INSERT INTO outbox (event_id, topic, aggregate_id, payload)
  VALUES (md5('txmgr:change:' || entry_id)::uuid, 'change.' || p_entity || '.' || p_change, p_entity_id,
          jsonb_build_object('changeId', entry_id::text, 'entity', p_entity, 'entityId', p_entity_id,
                             'change', p_change, 'data', p_data, 'workflowId', p_workflow_id));
  PERFORM set_config('txmgr.hlc_last', wall || ':' || logical || ':' || node, true);
  -- A transaction that will be PREPAREd may not NOTIFY: whoever commits it notifies.
  IF current_setting('txmgr.defer_notify', true) IS DISTINCT FROM 'on' THEN
    PERFORM pg_notify('txmgr_changes', p_entity || ':' || entry_id);
  END IF;
  RETURN entry_id;
END
$$;

-- Arguments: the entity name, its id column(s) (comma-separated, joined by ':'), and the account
-- columns whose changes this one is causally ordered with. An update names the new status when
-- the status changed ('credited', 'filled', …), else 'updated'.
CREATE FUNCTION txmgr_capture_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r         jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
  ids       text[] := string_to_array(TG_ARGV[1], ',');
  accounts  text[] := CASE WHEN TG_NARGS > 2 THEN string_to_array(TG_ARGV[2], ',') ELSE '{}'::text[] END;
  change    text;
BEGIN
  IF TG_OP = 'INSERT' THEN
    change := 'created';
  ELSIF TG_OP = 'DELETE' THEN
    change := 'deleted';
  ELSIF r ? 'status' AND (r ->> 'status') IS DISTINCT FROM (to_jsonb(OLD) ->> 'status') THEN
    change := lower(r ->> 'status');
  ELSE
    change := 'updated';
  END IF;
  PERFORM txmgr_append_change(
    TG_ARGV[0],
    array_to_string(ARRAY(SELECT r ->> c FROM unnest(ids) WITH ORDINALITY AS u (c, n) ORDER BY n), ':'),
    change,
    txmgr_change_data(r),
    coalesce(r ->> 'workflow_id', nullif(current_setting('txmgr.workflow_id', true), '')),
    ARRAY(SELECT 'account:' || (r ->> c) FROM unnest(accounts) AS c WHERE r ->> c IS NOT NULL));
  RETURN NULL;
END
$$;

DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES
      ('deposits', 'deposit', 'id', 'account_id'),
      ('orders', 'order', 'id', 'base_account_id,quote_account_id'),
      ('trades', 'trade', 'id', ''),
      ('fills', 'fill', 'id', ''),
      ('withdrawals', 'withdrawal', 'id', 'account_id'),
      ('campaigns', 'campaign', 'id', 'owner_account_id'),
      ('campaign_state', 'campaign_state', 'campaign_id', ''),
      ('campaign_rewards', 'campaign_reward', 'campaign_id,recipient_account_id', 'recipient_account_id')
    ) AS v (tbl, entity, id_columns, account_columns)
  LOOP
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION txmgr_capture_change(%L, %L, %L)',
                   t.tbl || '_change_log', t.tbl, t.entity, t.id_columns, t.account_columns);
    -- An update that changes nothing is no change.
    EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) '
                   'EXECUTE FUNCTION txmgr_capture_change(%L, %L, %L)',
                   t.tbl || '_change_log_update', t.tbl, t.entity, t.id_columns, t.account_columns);
  END LOOP;
END
$$;

-- Down Migration
DO $$
DECLARE
  tbl text;
BEGIN
  FOREACH tbl IN ARRAY ARRAY['deposits', 'orders', 'trades', 'fills', 'withdrawals', 'campaigns', 'campaign_state', 'campaign_rewards']
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %I', tbl || '_change_log_update', tbl);
    EXECUTE format('DROP TRIGGER %I ON %I', tbl || '_change_log', tbl);
  END LOOP;
END
$$;
DROP FUNCTION txmgr_capture_change();
DROP FUNCTION txmgr_append_change(text, text, text, jsonb, text, text[]);
DROP FUNCTION txmgr_change_data(jsonb);
