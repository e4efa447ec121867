import type { Pool, PoolClient } from 'pg';

type Queryable = Pool | PoolClient;

export interface TxTransactionRow {
  id: string;
  workflow_id: string;
  gid_key: string;
  mode: 'atomic' | 'saga' | '2pc';
  request_hash: string;
  resources: string[];
  decision: 'commit' | 'rollback' | null;
  decided_by: string | null;
  deadline_at: Date;
  created_at: Date;
  decided_at: Date | null;
}

/** Records a transaction unless its id exists; returns the row as stored (the first request's). */
export async function insertTxTransaction(
  db: Queryable,
  t: { id: string; workflowId: string; gidKey: string; mode: string; requestHash: string; resources: string[]; deadlineAt: Date },
): Promise<TxTransactionRow> {
  const { rows } = await db.query<TxTransactionRow>(
    `WITH ins AS (
       INSERT INTO tx_transactions (id, workflow_id, gid_key, mode, request_hash, resources, deadline_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING *
     )
     SELECT * FROM ins UNION ALL SELECT * FROM tx_transactions WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ins)`,
    [t.id, t.workflowId, t.gidKey, t.mode, t.requestHash, t.resources, t.deadlineAt],
  );
  return rows[0] as TxTransactionRow;
}

/** Writes the decision unless one exists; returns the decision that stands (the first one). */
export async function decideTxTransaction(
  db: Queryable,
  id: string,
  decision: 'commit' | 'rollback',
  by: string,
): Promise<'commit' | 'rollback' | undefined> {
  const { rows } = await db.query<{ decision: 'commit' | 'rollback' }>(
    `UPDATE tx_transactions
        SET decision = coalesce(decision, $2), decided_by = coalesce(decided_by, $3), decided_at = coalesce(decided_at, now())
      WHERE id = $1
      RETURNING decision`,
    [id, decision, by],
  );
  return rows[0]?.decision;
}

export async function findTxTransactionByGidKey(db: Queryable, gidKey: string): Promise<TxTransactionRow | undefined> {
  const { rows } = await db.query<TxTransactionRow>('SELECT * FROM tx_transactions WHERE gid_key = $1', [gidKey]);
  return rows[0];
}
