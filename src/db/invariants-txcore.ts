import type { Pool } from 'pg';
import { DEFAULT_TIMEOUT_SECONDS } from '../domain/operations';

/**
 * Invariant 7 of DESIGN.md §3, for one resource database: no prepared transaction of txmgr
 * outlives its timeout; every committed transfer and hold (since the change log exists) has
 * its change-log entry, and no entry names a transfer or hold that is not there.
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
  return violations;
}
