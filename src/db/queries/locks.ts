import type { Pool } from 'pg';
import { MARKET_LOCK_PREFIX } from './orders';

export interface OpenHoldRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  asset: string;
  scale: number;
  amount: string;
  captured: string;
  released: string;
  workflow_id: string | null;
  step: string | null;
  created_at: Date;
}

export async function listOpenHolds(pool: Pool, limit: number): Promise<OpenHoldRow[]> {
  const { rows } = await pool.query<OpenHoldRow>(
    `SELECT h.id, h.debit_account_id, h.credit_account_id, h.asset, a.scale, h.amount, h.captured, h.released,
            h.workflow_id, h.step, h.created_at
       FROM holds h JOIN assets a ON a.code = h.asset
      WHERE h.status = 'open'
      ORDER BY h.created_at
      LIMIT $1`,
    [limit],
  );
  return rows;
}

/**
 * Locks held (granted) in this database by other sessions: advisory locks and row/table
 * locks on txmgr's tables, with the session's application name and the transaction's age.
 */
export interface PgLockRow {
  locktype: string;
  mode: string;
  relation: string | null;
  advisory_key: string | null;
  pid: number;
  application_name: string | null;
  state: string | null;
  xact_start: Date | null;
  wait_event_type: string | null;
  query_start: Date | null;
  /** The market whose book this advisory lock serialises (trade matching, cancels, halts); null for other locks. */
  market: string | null;
}

export async function listPgLocks(pool: Pool, limit: number): Promise<PgLockRow[]> {
  const { rows } = await pool.query<PgLockRow>(
    `SELECT l.locktype, l.mode,
            CASE WHEN l.relation IS NOT NULL THEN l.relation::regclass::text END AS relation,
            k.key::text AS advisory_key,
            l.pid, a.application_name, a.state, a.xact_start, a.wait_event_type, a.query_start,
            CASE WHEN l.objsubid = 1 THEN (SELECT m.symbol FROM markets m
                                            WHERE hashtextextended($2::text || m.symbol, 0) = k.key LIMIT 1) END AS market
       FROM pg_locks l
       JOIN pg_stat_activity a ON a.pid = l.pid
       -- An advisory key is split into classid (high half) and objid (low half); objsubid 1 marks a one-bigint key.
       CROSS JOIN LATERAL (SELECT CASE WHEN l.locktype = 'advisory'
                                       THEN (l.classid::bigint << 32) | l.objid::bigint END AS key) k
      WHERE l.granted AND l.pid <> pg_backend_pid() AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND (l.locktype = 'advisory' OR (l.locktype IN ('relation', 'tuple') AND l.relation::regclass::text NOT LIKE 'pg_%'))
      ORDER BY a.xact_start NULLS LAST, l.pid
      LIMIT $1`,
    [limit, MARKET_LOCK_PREFIX],
  );
  return rows;
}
