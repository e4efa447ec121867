import type { Pool, PoolClient } from 'pg';

export interface HoldRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  asset: string;
  amount: string;
  captured: string;
  released: string;
  status: 'open' | 'captured' | 'released';
  workflow_id: string | null;
  step: string | null;
  created_at: Date;
  closed_at: Date | null;
}

export interface NewHold {
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  asset: string;
  amount: bigint;
  workflowId?: string;
  step?: string;
}

/** Inserts the hold unless it conflicts with any unique key; undefined then (the caller reads it back by id). */
export async function insertHold(client: PoolClient, h: NewHold): Promise<HoldRow | undefined> {
  const { rows } = await client.query<HoldRow>(
    `INSERT INTO holds (id, debit_account_id, credit_account_id, asset, amount, workflow_id, step)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [h.id, h.debitAccountId, h.creditAccountId, h.asset, String(h.amount), h.workflowId ?? null, h.step ?? null],
  );
  return rows[0];
}

export async function findHold(db: Pool | PoolClient, id: string): Promise<HoldRow | undefined> {
  const { rows } = await db.query<HoldRow>('SELECT * FROM holds WHERE id = $1', [id]);
  return rows[0];
}

export async function lockHold(client: PoolClient, id: string): Promise<HoldRow | undefined> {
  const { rows } = await client.query<HoldRow>('SELECT * FROM holds WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

/** Adds to a hold's captured/released amounts and closes it when nothing remains. */
export async function consumeHold(client: PoolClient, id: string, captured: bigint, released: bigint): Promise<HoldRow> {
  const { rows } = await client.query<HoldRow>(
    `UPDATE holds SET
       captured = captured + $2,
       released = released + $3,
       status = CASE
         WHEN captured + $2 + released + $3 < amount THEN 'open'
         WHEN $3::numeric > 0 THEN 'released'
         ELSE 'captured' END,
       closed_at = CASE WHEN captured + $2 + released + $3 < amount THEN NULL ELSE now() END
     WHERE id = $1
     RETURNING *`,
    [id, String(captured), String(released)],
  );
  return rows[0] as HoldRow;
}

/**
 * Serialises placing and releasing one hold id, so a release that finds no hold and a
 * placement of that id cannot both go ahead. Taken before any account lock.
 */
export async function lockHoldId(client: PoolClient, id: string): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [id]);
}

export async function insertHoldTombstone(client: PoolClient, id: string): Promise<void> {
  await client.query('INSERT INTO hold_tombstones (id) VALUES ($1) ON CONFLICT DO NOTHING', [id]);
}

export async function holdTombstoned(client: PoolClient, id: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM hold_tombstones WHERE id = $1', [id]);
  return rowCount === 1;
}
