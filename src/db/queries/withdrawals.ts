import type { Pool, PoolClient } from 'pg';
import type { WithdrawalStatus } from '../../domain/withdrawal';

type Queryable = Pool | PoolClient;

export interface WithdrawalRow {
  id: string;
  workflow_id: string;
  account_id: string;
  asset: string;
  address: string;
  amount: string;
  fee: string;
  status: WithdrawalStatus;
  hold_id: string;
  chain_tx_id: string | null;
  confirmations: number;
  reason: string | null;
  created_at: Date;
  updated_at: Date;
  broadcast_at: Date | null;
  completed_at: Date | null;
}

export interface NewWithdrawal {
  id: string;
  workflowId: string;
  accountId: string;
  asset: string;
  address: string;
  amount: bigint;
  fee: bigint;
  holdId: string;
}

/** Serialises withdrawals of one account and asset, so concurrent ones cannot pass the daily limit together. */
export async function lockWithdrawalLimit(client: PoolClient, accountId: string, asset: string): Promise<void> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended('withdrawal-limit:' || $1 || ':' || $2, 0))", [
    accountId,
    asset,
  ]);
}

/** Amounts (fees not counted) of the account's withdrawals of `asset` in the 24 hours before `now`, released ones not counted. */
export async function sumWithdrawnToday(db: Queryable, accountId: string, asset: string, now: Date): Promise<bigint> {
  const { rows } = await db.query<{ total: string }>(
    `SELECT COALESCE(sum(amount), 0)::text AS total FROM withdrawals
      WHERE account_id = $1 AND asset = $2 AND status <> 'RELEASED' AND created_at > $3::timestamptz - interval '24 hours'`,
    [accountId, asset, now],
  );
  return BigInt(rows[0]?.total ?? '0');
}

export async function insertWithdrawal(client: PoolClient, w: NewWithdrawal, now: Date): Promise<WithdrawalRow | undefined> {
  const { rows } = await client.query<WithdrawalRow>(
    `INSERT INTO withdrawals (id, workflow_id, account_id, asset, address, amount, fee, status, hold_id, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'HELD', $8, $9, $9)
     ON CONFLICT DO NOTHING RETURNING *`,
    [w.id, w.workflowId, w.accountId, w.asset, w.address, String(w.amount), String(w.fee), w.holdId, now],
  );
  return rows[0];
}

export async function findWithdrawal(db: Queryable, id: string): Promise<WithdrawalRow | undefined> {
  const { rows } = await db.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE id = $1', [id]);
  return rows[0];
}

export async function lockWithdrawal(client: PoolClient, id: string): Promise<WithdrawalRow | undefined> {
  const { rows } = await client.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

export async function updateWithdrawal(
  client: PoolClient,
  id: string,
  u: { status?: WithdrawalStatus; chainTxId?: string; confirmations?: number; reason?: string | null },
): Promise<void> {
  await client.query(
    `UPDATE withdrawals SET
       status = COALESCE($2, status),
       chain_tx_id = COALESCE($3, chain_tx_id),
       confirmations = COALESCE($4, confirmations),
       reason = CASE WHEN $5::boolean THEN $6 ELSE reason END,
       broadcast_at = CASE WHEN $2 = 'BROADCAST' AND broadcast_at IS NULL THEN now() ELSE broadcast_at END,
       completed_at = CASE WHEN $2 IN ('COMPLETED', 'RELEASED') THEN now() ELSE completed_at END,
       updated_at = now()
     WHERE id = $1`,
    [id, u.status ?? null, u.chainTxId ?? null, u.confirmations ?? null, u.reason !== undefined, u.reason ?? null],
  );
}

export async function listWithdrawals(
  db: Queryable,
  f: { accountId?: string; status?: WithdrawalStatus; limit: number },
): Promise<Array<WithdrawalRow & { scale: number }>> {
  const { rows } = await db.query<WithdrawalRow & { scale: number }>(
    `SELECT w.*, a.scale FROM withdrawals w JOIN assets a ON a.code = w.asset
      WHERE ($1::uuid IS NULL OR w.account_id = $1) AND ($2::text IS NULL OR w.status = $2)
      ORDER BY w.created_at DESC LIMIT $3`,
    [f.accountId ?? null, f.status ?? null, f.limit],
  );
  return rows;
}
