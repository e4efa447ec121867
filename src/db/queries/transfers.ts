import type { Pool, PoolClient } from 'pg';

export interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  asset: string;
  amount: string;
  hold_id: string | null;
  workflow_id: string | null;
  step: string | null;
  created_at: Date;
}

export interface NewTransfer {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  asset: string;
  amount: bigint;
  holdId?: string;
  workflowId?: string;
  step?: string;
}

/** Inserts the transfer unless it conflicts with any unique key (its id); returns undefined when it did. */
export async function insertTransfer(client: PoolClient, t: NewTransfer): Promise<TransferRow | undefined> {
  const { rows } = await client.query<TransferRow>(
    `INSERT INTO transfers (id, debit_account_id, credit_account_id, asset, amount, hold_id, workflow_id, step)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [
      t.id,
      t.debitAccountId,
      t.creditAccountId,
      t.asset,
      String(t.amount),
      t.holdId ?? null,
      t.workflowId ?? null,
      t.step ?? null,
    ],
  );
  return rows[0];
}

export async function findTransfer(db: Pool | PoolClient, id: string): Promise<TransferRow | undefined> {
  const { rows } = await db.query<TransferRow>('SELECT * FROM transfers WHERE id = $1', [id]);
  return rows[0];
}
