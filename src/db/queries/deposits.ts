import type { Pool, PoolClient } from 'pg';

export interface DepositRow {
  id: string;
  bank_reference: string;
  account_id: string;
  asset: string;
  amount: string;
  sender_name: string;
  status: 'RECORDED' | 'IN_REVIEW' | 'APPROVED' | 'REJECTED' | 'CREDITED';
  reason: string | null;
  workflow_id: string;
  transfer_id: string | null;
  created_at: Date;
  updated_at: Date;
}

/** What a deposit row starts with. */
export interface NewDeposit {
  id: string;
  bankReference: string;
  accountId: string;
  asset: string;
  amount: bigint;
  senderName: string;
  workflowId: string;
}

/**
 * Inserts the deposit unless it conflicts with any unique key (its id or its bank
 * reference; overlapping attempts of one recordDeposit share both). Returns undefined
 * on a conflict: the caller reads the row back with findDepositByIdOrReference.
 */
export async function insertDeposit(
  client: PoolClient,
  d: NewDeposit,
  initial: { status: 'RECORDED' | 'REJECTED'; reason?: string } = { status: 'RECORDED' },
): Promise<DepositRow | undefined> {
  const { rows } = await client.query<DepositRow>(
    `INSERT INTO deposits (id, bank_reference, account_id, asset, amount, sender_name, status, workflow_id, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [
      d.id,
      d.bankReference,
      d.accountId,
      d.asset,
      String(d.amount),
      d.senderName,
      initial.status,
      d.workflowId,
      initial.reason ?? null,
    ],
  );
  return rows[0];
}

/** The deposit holding this id or this bank reference (the one a conflicting insert met); by reference first. */
export async function findDepositByIdOrReference(
  db: Pool | PoolClient,
  id: string,
  bankReference: string,
): Promise<DepositRow | undefined> {
  const { rows } = await db.query<DepositRow>(
    'SELECT * FROM deposits WHERE bank_reference = $2 OR id = $1 ORDER BY (bank_reference = $2) DESC LIMIT 1',
    [id, bankReference],
  );
  return rows[0];
}

export async function findDepositByReference(db: Pool | PoolClient, bankReference: string): Promise<DepositRow | undefined> {
  const { rows } = await db.query<DepositRow>('SELECT * FROM deposits WHERE bank_reference = $1', [bankReference]);
  return rows[0];
}

export async function lockDeposit(client: PoolClient, id: string): Promise<DepositRow | undefined> {
  const { rows } = await client.query<DepositRow>('SELECT * FROM deposits WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

export async function updateDepositStatus(
  client: PoolClient,
  id: string,
  status: DepositRow['status'],
  reason: string | null,
  transferId: string | null = null,
): Promise<DepositRow> {
  const { rows } = await client.query<DepositRow>(
    `UPDATE deposits SET status = $2, reason = COALESCE($3, reason), transfer_id = COALESCE($4, transfer_id), updated_at = now()
     WHERE id = $1 RETURNING *`,
    [id, status, reason, transferId],
  );
  return rows[0] as DepositRow;
}

/** After a reversal the deposit is rejected and no longer points at a credit. */
export async function markDepositReversed(client: PoolClient, id: string, reason: string): Promise<void> {
  await client.query(
    `UPDATE deposits SET status = 'REJECTED', reason = $2, transfer_id = NULL, updated_at = now() WHERE id = $1`,
    [id, reason],
  );
}

/** A deposit with its asset's scale, for people reading it (CLI status and lists). */
export interface DepositListRow extends DepositRow {
  scale: number;
}

/** Deposits waiting for review first, then newest first; optionally one status or one reference. */
export async function listDeposits(
  db: Pool | PoolClient,
  o: { status?: DepositRow['status']; bankReference?: string; limit: number },
): Promise<DepositListRow[]> {
  const { rows } = await db.query<DepositListRow>(
    `SELECT d.*, a.scale FROM deposits d JOIN assets a ON a.code = d.asset
     WHERE ($1::text IS NULL OR d.status = $1) AND ($2::text IS NULL OR d.bank_reference = $2)
     ORDER BY (d.status = 'IN_REVIEW') DESC, d.created_at DESC, d.bank_reference
     LIMIT $3`,
    [o.status ?? null, o.bankReference ?? null, o.limit],
  );
  return rows;
}

export async function lockDepositByReference(client: PoolClient, bankReference: string): Promise<DepositRow | undefined> {
  const { rows } = await client.query<DepositRow>('SELECT * FROM deposits WHERE bank_reference = $1 FOR UPDATE', [bankReference]);
  return rows[0];
}

/**
 * A rejected placeholder for a deposit rejected before it was recorded: a late record
 * attempt with the same id and reference finds it and records nothing new. Undefined when
 * a row holding the id or the reference exists already (the caller locks that one).
 */
export async function insertRejectedDeposit(
  client: PoolClient,
  d: NewDeposit & { reason: string },
): Promise<DepositRow | undefined> {
  return insertDeposit(client, d, { status: 'REJECTED', reason: d.reason });
}
