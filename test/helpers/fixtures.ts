import type { Pool } from 'pg';
import { randomUUID } from 'node:crypto';

/** Opens a funded-or-empty user account directly in the ledger (test setup only). */
export async function openUserAccount(pool: Pool, asset = 'USD', owner = `user-${randomUUID().slice(0, 8)}`): Promise<string> {
  const id = randomUUID();
  await pool.query(
    `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits) VALUES ($1, $2, 'user', $3, true)`,
    [id, asset, owner],
  );
  return id;
}

export async function houseAccount(pool: Pool, asset: string, code: string): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(`SELECT id FROM accounts WHERE asset = $1 AND code = $2`, [asset, code]);
  if (!rows[0]) throw new Error(`no house account ${code} for ${asset}`);
  return rows[0].id;
}

export async function balances(pool: Pool, accountId: string) {
  const { rows } = await pool.query<{
    debits_pending: string;
    debits_posted: string;
    credits_pending: string;
    credits_posted: string;
  }>('SELECT debits_pending, debits_posted, credits_pending, credits_posted FROM accounts WHERE id = $1', [accountId]);
  const r = rows[0];
  if (!r) throw new Error(`no account ${accountId}`);
  return {
    debitsPending: BigInt(r.debits_pending),
    debitsPosted: BigInt(r.debits_posted),
    creditsPending: BigInt(r.credits_pending),
    creditsPosted: BigInt(r.credits_posted),
    balance: BigInt(r.credits_posted) - BigInt(r.debits_posted),
    available: BigInt(r.credits_posted) - BigInt(r.debits_posted) - BigInt(r.debits_pending),
  };
}

export async function count(pool: Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(`SELECT COUNT(*)::text AS n FROM (${sql}) q`, params);
  return Number(rows[0]?.n ?? 0);
}
