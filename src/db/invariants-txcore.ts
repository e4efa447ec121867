import type { Pool } from 'pg';
import { DEFAULT_TIMEOUT_SECONDS } from '../domain/operations';

/**
 * Invariant 7 of DESIGN.md §3, for one resource database: no prepared transaction of txmgr
 * outlives its timeout; every committed transfer and hold (since the change log exists) has
 * its change-log entry, and no entry names a transfer or hold that is not there; every saga
 * row (since its triggers exist) has an entry carrying its current state, and no entry names a
 * row that is not there (unless its last entry says it was deleted).
 */
export async function checkTxcoreInvariants(pool: Pool): Promise<string[]> {
  const violations: string[] = [];
  const prepared = await pool.query<{ gid: string; prepared: Date }>(
    `SELECT p.gid, p.prepared FROM pg_prepared_xacts p
       LEFT JOIN tx_transactions t ON p.gid LIKE 'txmgr:' || t.gid_key || ':%'
      WHERE p.database = current_database() AND p.gid LIKE 'txmgr:%'
        AND now() > coalesce(t.deadline_at, p.prepared + make_interval(secs => $1))`,
    [DEFAULT_TIMEOUT_SECONDS],
  );
  for (const r of prepared.rows)
    violations.push(`prepared transaction ${r.gid} (since ${r.prepared.toISOString()}) outlived its timeout`);

  const since = `(SELECT run_on FROM pgmigrations WHERE name = '20261206000400000_change_log')`;
  const transfers = await pool.query<{ id: string }>(
    `SELECT t.id FROM transfers t WHERE t.created_at >= ${since}
        AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.entity = 'transfer' AND c.entity_id = t.id::text)
        AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.entity = 'hold' AND c.change = 'captured' AND c.data->>'transferId' = t.id::text)`,
  );
  for (const r of transfers.rows) violations.push(`transfer ${r.id} has no change-log entry`);
  const holds = await pool.query<{ id: string }>(
    `SELECT h.id FROM holds h WHERE h.created_at >= ${since}
        AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.entity = 'hold' AND c.change = 'placed' AND c.entity_id = h.id::text)`,
  );
  for (const r of holds.rows) violations.push(`hold ${r.id} has no change-log entry`);
  const phantoms = await pool.query<{ id: string; entity: string }>(
    `SELECT c.id, c.entity FROM change_log c
      WHERE (c.entity = 'transfer' AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.id::text = c.entity_id))
         OR (c.entity = 'hold' AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id::text = c.entity_id))`,
  );
  for (const r of phantoms.rows) violations.push(`change-log entry ${r.id} names a ${r.entity} that does not exist`);
  violations.push(...(await checkDomainRowsLogged(pool)));
  return violations;
}

/** The saga tables the triggers of migration 20261207002000000 log: entity, id as the log writes it, and when a row last changed. */
const DOMAIN_TABLES: ReadonlyArray<{ table: string; entity: string; id: string; changed: string }> = [
  { table: 'deposits', entity: 'deposit', id: 't.id::text', changed: 't.updated_at' },
  { table: 'orders', entity: 'order', id: 't.id::text', changed: 't.updated_at' },
  { table: 'trades', entity: 'trade', id: 't.id::text', changed: 't.created_at' },
  { table: 'fills', entity: 'fill', id: 't.id::text', changed: 't.created_at' },
  { table: 'withdrawals', entity: 'withdrawal', id: 't.id::text', changed: 't.updated_at' },
  { table: 'campaigns', entity: 'campaign', id: 't.id::text', changed: 't.updated_at' },
  { table: 'campaign_state', entity: 'campaign_state', id: 't.campaign_id::text', changed: 't.updated_at' },
  {
    table: 'campaign_rewards',
    entity: 'campaign_reward',
    id: `t.campaign_id::text || ':' || t.recipient_account_id::text`,
    changed: 't.created_at',
  },
];

// Compared without timestamps: their JSON text follows the session's time zone, which the writer's and the checker's may not share.
const TIMESTAMPS = [
  'created_at',
  'updated_at',
  'closed_at',
  'expires_at',
  'broadcast_at',
  'completed_at',
  'starts_at',
  'ends_at',
];

async function checkDomainRowsLogged(pool: Pool): Promise<string[]> {
  const violations: string[] = [];
  const since = `(SELECT run_on FROM pgmigrations WHERE name = '20261207002000000_change_log_domain')`;
  for (const d of DOMAIN_TABLES) {
    // A row changed without its entry: no entry carries the row as it is now (in the columns the
    // entry has: a column a later migration adds is in no older entry).
    const unlogged = await pool.query<{ id: string }>(
      `SELECT ${d.id} AS id FROM ${d.table} t
        WHERE ${d.changed} >= ${since}
          AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.entity = $1 AND c.entity_id = ${d.id}
                             AND c.change <> 'deleted'
                             AND (txmgr_change_data(to_jsonb(t)) - $2::text[]) @> (c.data - $2::text[]))
        ORDER BY 1 LIMIT 100`,
      [d.entity, TIMESTAMPS],
    );
    for (const r of unlogged.rows) violations.push(`${d.entity} ${r.id} has no change-log entry for its current state`);
    const phantoms = await pool.query<{ id: string; entity_id: string }>(
      `SELECT l.id::text, l.entity_id FROM (
         SELECT DISTINCT ON (entity_id) id, entity_id, change FROM change_log WHERE entity = $1
          ORDER BY entity_id, xid DESC, id DESC) l
        WHERE l.change <> 'deleted' AND NOT EXISTS (SELECT 1 FROM ${d.table} t WHERE ${d.id} = l.entity_id)
        ORDER BY l.id LIMIT 100`,
      [d.entity],
    );
    for (const r of phantoms.rows)
      violations.push(`change-log entry ${r.id} names a ${d.entity} ${r.entity_id} that does not exist`);
  }
  return violations;
}
