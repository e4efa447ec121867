import type { Pool, PoolClient } from 'pg';

type Queryable = Pool | PoolClient;

export interface AccountRow {
  id: string;
  asset: string;
  kind: 'user' | 'house';
  owner: string;
  code: string | null;
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
  debits_must_not_exceed_credits: boolean;
  credits_must_not_exceed_debits: boolean;
  frozen: boolean;
  frozen_reason: string | null;
  frozen_at: Date | null;
}

export async function insertUserAccount(
  db: Queryable,
  a: { id: string; asset: string; owner: string },
): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(
    `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits)
     VALUES ($1, $2, 'user', $3, true)
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [a.id, a.asset, a.owner],
  );
  return rows[0];
}

export async function findAccount(db: Queryable, id: string): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>('SELECT * FROM accounts WHERE id = $1', [id]);
  return rows[0];
}

export async function findHouseAccount(db: Queryable, asset: string, code: string): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(`SELECT * FROM accounts WHERE asset = $1 AND code = $2 AND kind = 'house'`, [
    asset,
    code,
  ]);
  return rows[0];
}

/** Locks the accounts in id order, the one order every transaction uses, so two transfers cannot deadlock. */
export async function lockAccounts(client: PoolClient, ids: readonly string[]): Promise<Map<string, AccountRow>> {
  const { rows } = await client.query<AccountRow>('SELECT * FROM accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [
    [...new Set(ids)],
  ]);
  return new Map(rows.map((r) => [r.id, r]));
}

/** Adds signed deltas to an account's four balance columns. */
export async function applyBalanceDelta(
  client: PoolClient,
  id: string,
  d: { debitsPending?: bigint; debitsPosted?: bigint; creditsPending?: bigint; creditsPosted?: bigint },
): Promise<void> {
  await client.query(
    `UPDATE accounts SET
       debits_pending = debits_pending + $2, debits_posted = debits_posted + $3,
       credits_pending = credits_pending + $4, credits_posted = credits_posted + $5
     WHERE id = $1`,
    [
      id,
      String(d.debitsPending ?? 0n),
      String(d.debitsPosted ?? 0n),
      String(d.creditsPending ?? 0n),
      String(d.creditsPosted ?? 0n),
    ],
  );
}

export async function listAccountsByOwner(db: Queryable, owner: string): Promise<AccountRow[]> {
  const { rows } = await db.query<AccountRow>('SELECT * FROM accounts WHERE owner = $1 ORDER BY asset, created_at', [owner]);
  return rows;
}

/** Freezes or unfreezes an account; returns the row, or undefined when there is no such account. */
export async function setAccountFrozen(
  db: Queryable,
  a: { id: string; frozen: boolean; reason?: string },
): Promise<AccountRow | undefined> {
  const { rows } = await db.query<AccountRow>(
    `UPDATE accounts
        SET frozen = $2,
            frozen_reason = CASE WHEN $2 THEN $3 ELSE NULL END,
            frozen_at = CASE WHEN $2 THEN coalesce(frozen_at, now()) ELSE NULL END
      WHERE id = $1
      RETURNING *`,
    [a.id, a.frozen, a.reason ?? null],
  );
  return rows[0];
}
