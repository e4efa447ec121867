import os from 'node:os';
import type { Pool, PoolClient } from 'pg';
import { compareHlc, HybridClock, hlcSetting, parseHlcSetting, type Hlc } from '../domain/hlc';

/**
 * The change log. `appendChange` runs inside the transaction that makes the change, so an
 * entry exists exactly for the changes that committed. It stamps the entry with this
 * worker's hybrid logical clock merged with the last stamp of every causal key (account)
 * the change touches, writes an outbox event for it, and NOTIFYs `txmgr_changes` — which
 * PostgreSQL delivers only when the transaction commits.
 *
 * Reading: entries are ordered by (xid, id), the writing transaction's id and the entry's
 * id. `readChanges` returns only entries whose transaction is below the oldest one still
 * in flight in this database (CHANGE_HORIZON): every such transaction has ended, and every
 * transaction that could still write has an xid at or above it, so nothing can ever appear
 * behind the cursor. A sequence alone would not do: its values are taken before commit, so
 * a slow writer's row becomes visible after a reader moved past it. The price: one long
 * transaction of this database holds readers back (never loses them anything).
 */

export const CHANGES_CHANNEL = 'txmgr_changes';

let clock = new HybridClock(`${os.hostname()}:${process.pid}`);

/** The clock this process stamps with (tests give workers their own). */
export function changeClock(): HybridClock {
  return clock;
}

export function setChangeClock(next: HybridClock): void {
  clock = next;
}

export interface NewChange {
  entity: string;
  entityId: string;
  change: string;
  data: Record<string, unknown>;
  workflowId?: string | null;
  /** Keys whose changes must be causally ordered (accounts: "account:<id>"); an account entity adds its own. */
  causalKeys?: string[];
}

export interface ChangeRow {
  id: string;
  xid: string;
  entity: string;
  entity_id: string;
  change: string;
  data: Record<string, unknown>;
  workflow_id: string | null;
  hlc_wall: string;
  hlc_logical: number;
  hlc_node: string;
  created_at: Date;
}

/**
 * A transaction that will be PREPAREd may not NOTIFY (PostgreSQL refuses): it defers, and
 * whoever commits it calls `notifyChanges` afterwards.
 */
export async function deferNotify(client: PoolClient): Promise<void> {
  await client.query(`SELECT set_config('txmgr.defer_notify', 'on', true)`);
}

export async function notifyChanges(db: Pool | PoolClient, what: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, what]);
}

export const accountKey = (accountId: string): string => `account:${accountId}`;

/**
 * What withTransaction sends with BEGIN: a fresh stamp of this worker's clock (the floor of the
 * transaction's stamps, for the domain rows' triggers, migration 20261207002000000) and the
 * workflow the transaction works for. Values are SQL literals, quotes doubled.
 */
export function beginChangeSettings(workflowId: string | undefined): string {
  const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;
  const settings = [`SET LOCAL txmgr.hlc = ${literal(hlcSetting(clock.now()))}`];
  if (workflowId) settings.push(`SET LOCAL txmgr.workflow_id = ${literal(workflowId)}`);
  return settings.join('; ');
}

/** Read in the COMMIT round trip: the transaction's last stamp, which the clock then takes in. */
export const LAST_STAMP_QUERY = `SELECT current_setting('txmgr.hlc_last', true) AS hlc`;

export function observeLastStamp(text: string | null | undefined): void {
  const stamp = parseHlcSetting(text);
  if (stamp) clock.observe(stamp);
}

/** Appends one entry in the caller's transaction; returns its id and stamp. */
export async function appendChange(client: PoolClient, c: NewChange): Promise<{ id: string; hlc: Hlc }> {
  const keys = [...new Set([...(c.causalKeys ?? []), ...(c.entity === 'account' ? [accountKey(c.entityId)] : [])])].sort();
  // The accounts' last stamps (locked, in key order) and the transaction's own last stamp (a
  // trigger may have stamped above this clock): the new stamp is greater than all of them.
  const { rows: seenRows } = await client.query<{
    last: string | null;
    hlc_wall: string | null;
    hlc_logical: number;
    hlc_node: string;
  }>(
    `SELECT current_setting('txmgr.hlc_last', true) AS last, c.hlc_wall, c.hlc_logical, c.hlc_node
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (SELECT hlc_wall, hlc_logical, hlc_node FROM change_clocks
                           WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE) AS c ON true`,
    [keys],
  );
  const seen: Hlc[] = [];
  const last = parseHlcSetting(seenRows[0]?.last);
  if (last) seen.push(last);
  for (const r of seenRows)
    if (r.hlc_wall !== null) seen.push({ wall: Number(r.hlc_wall), logical: r.hlc_logical, node: r.hlc_node });
  const hlc = clock.merge(...seen);
  const { rows } = await client.query<{ id: string }>(
    `WITH entry AS (
       INSERT INTO change_log (entity, entity_id, change, data, workflow_id, hlc_wall, hlc_logical, hlc_node, causal_keys)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       RETURNING id, entity, entity_id, change, data, workflow_id
     ), clocks AS (
       INSERT INTO change_clocks (key, hlc_wall, hlc_logical, hlc_node)
       SELECT k, $6::bigint, $7::integer, $8::text FROM unnest($9::text[]) AS k
       ON CONFLICT (key) DO UPDATE SET hlc_wall = excluded.hlc_wall, hlc_logical = excluded.hlc_logical, hlc_node = excluded.hlc_node
     ), event AS (
       INSERT INTO outbox (event_id, topic, aggregate_id, payload)
       SELECT md5('txmgr:change:' || entry.id)::uuid, 'change.' || entry.entity || '.' || entry.change, entry.entity_id,
              jsonb_build_object('changeId', entry.id::text, 'entity', entry.entity, 'entityId', entry.entity_id,
                                 'change', entry.change, 'data', entry.data, 'workflowId', entry.workflow_id)
       FROM entry
     )
     SELECT entry.id,
            set_config('txmgr.hlc_last', $10, true),
            CASE WHEN current_setting('txmgr.defer_notify', true) = 'on' THEN NULL
                 ELSE pg_notify('${CHANGES_CHANNEL}', entry.entity || ':' || entry.id) END
       FROM entry`,
    [
      c.entity,
      c.entityId,
      c.change,
      JSON.stringify(c.data),
      c.workflowId ?? null,
      hlc.wall,
      hlc.logical,
      hlc.node,
      keys,
      hlcSetting(hlc),
    ],
  );
  return { id: (rows[0] as { id: string }).id, hlc };
}

export interface Change {
  /** Pass as `afterCursor` to read on from here. */
  cursor: string;
  id: string;
  entity: string;
  entityId: string;
  change: string;
  data: Record<string, unknown>;
  workflowId: string | null;
  hlc: Hlc;
  createdAt: string;
}

/** A cursor is "<xid>:<id>"; the empty cursor reads from the start. */
export function parseCursor(cursor: string | undefined): { xid: string; id: string } {
  if (!cursor) return { xid: '0', id: '0' };
  const m = /^(\d{1,20}):(\d{1,20})$/.exec(cursor);
  if (!m) throw new RangeError(`cursor must be "<xid>:<id>" as a change returned it, got "${cursor}"`);
  return { xid: m[1] as string, id: m[2] as string };
}

const toChange = (r: ChangeRow): Change => ({
  cursor: `${r.xid}:${r.id}`,
  id: r.id,
  entity: r.entity,
  entityId: r.entity_id,
  change: r.change,
  data: r.data,
  workflowId: r.workflow_id,
  hlc: { wall: Number(r.hlc_wall), logical: r.hlc_logical, node: r.hlc_node },
  createdAt: r.created_at.toISOString(),
});

/**
 * The xid below which every transaction of this database has ended. A snapshot's in-flight
 * list (xip) covers the whole cluster: a transaction held open, or PREPAREd, in another
 * database (the custody database's 2pc participant) would hold every reader here back. An
 * xid is left out only when it is known to belong to another database: one a session there
 * holds (its own xid's lock, matched to the session's database by pid) or a prepared
 * transaction's; an xid not known either way counts as this database's. Not pg_stat_activity's
 * backend_xid: PostgreSQL reads it from the process slot apart from the datname it shows, so a
 * slot just taken over by a session of this database can lend its xid another database's name.
 * The reader's own xid is in no xip list but has not ended (a reader inside a writing
 * transaction); the snapshot's xmax bounds it all.
 */
const CHANGE_HORIZON = `(
  WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
       elsewhere AS (
         SELECT l.transactionid AS x FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
            AND l.transactionid IS NOT NULL AND a.datname IS NOT NULL AND a.datname <> current_database()
         UNION ALL
         SELECT transaction FROM pg_prepared_xacts WHERE database <> current_database())
  SELECT min(x) FROM (
    SELECT x FROM snap, pg_snapshot_xip(snap.s) AS x WHERE xid(x) NOT IN (SELECT x FROM elsewhere)
    UNION ALL SELECT pg_current_xact_id_if_assigned()
    UNION ALL SELECT pg_snapshot_xmax(s) FROM snap) AS candidates)`;

/** Up to `limit` changes after the cursor, in (xid, id) order, none of them from a transaction still in flight. */
export async function readChanges(
  db: Pool | PoolClient,
  afterCursor: string | undefined,
  limit: number,
  filter: { entity?: string } = {},
): Promise<Change[]> {
  const after = parseCursor(afterCursor);
  const { rows } = await db.query<ChangeRow>(
    `SELECT id, xid::text AS xid, entity, entity_id, change, data, workflow_id, hlc_wall, hlc_logical, hlc_node, created_at
       FROM change_log
      WHERE (xid, id) > ($1::text::xid8, $2::bigint)
        AND xid < ${CHANGE_HORIZON}
        AND ($4::text IS NULL OR entity = $4)
      ORDER BY change_log.xid, change_log.id -- the columns, not the text alias
      LIMIT $3`,
    [after.xid, after.id, limit, filter.entity ?? null],
  );
  return rows.map(toChange);
}

/** The committed changes that touched an account, in causal (HLC) order. */
export async function changesOfAccount(db: Pool | PoolClient, accountId: string): Promise<Change[]> {
  const { rows } = await db.query<ChangeRow>(
    `SELECT id, xid::text AS xid, entity, entity_id, change, data, workflow_id, hlc_wall, hlc_logical, hlc_node, created_at
       FROM change_log WHERE $1 = ANY(causal_keys)`,
    [accountKey(accountId)],
  );
  return rows.map(toChange).sort((a, b) => compareHlc(a.hlc, b.hlc));
}
