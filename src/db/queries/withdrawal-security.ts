import type { Pool, PoolClient } from 'pg';

type Queryable = Pool | PoolClient;

export interface AllowListRow {
  account_id: string;
  asset: string;
  address: string;
  added_at: Date;
  usable_from: Date;
  removed_at: Date | null;
}

/** Adds (or re-adds, restarting its cooling-off) a destination; an active entry is left as it is. */
export async function upsertAllowListEntry(
  db: Queryable,
  e: { accountId: string; asset: string; address: string; coolingOffSeconds: number },
): Promise<AllowListRow> {
  const { rows } = await db.query<AllowListRow>(
    `INSERT INTO withdrawal_allow_list (account_id, asset, address, usable_from)
     VALUES ($1, $2, $3, now() + make_interval(secs => $4))
     ON CONFLICT (account_id, asset, address) DO UPDATE SET
       added_at = CASE WHEN withdrawal_allow_list.removed_at IS NULL THEN withdrawal_allow_list.added_at ELSE now() END,
       usable_from = CASE WHEN withdrawal_allow_list.removed_at IS NULL THEN withdrawal_allow_list.usable_from ELSE EXCLUDED.usable_from END,
       removed_at = NULL
     RETURNING *`,
    [e.accountId, e.asset, e.address, e.coolingOffSeconds],
  );
  return rows[0] as AllowListRow;
}

export async function removeAllowListEntry(db: Queryable, accountId: string, asset: string, address: string): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE withdrawal_allow_list SET removed_at = now()
      WHERE account_id = $1 AND asset = $2 AND address = $3 AND removed_at IS NULL`,
    [accountId, asset, address],
  );
  return rowCount === 1;
}

export async function findAllowListEntry(
  db: Queryable,
  accountId: string,
  asset: string,
  address: string,
): Promise<AllowListRow | undefined> {
  const { rows } = await db.query<AllowListRow>(
    'SELECT * FROM withdrawal_allow_list WHERE account_id = $1 AND asset = $2 AND address = $3 AND removed_at IS NULL',
    [accountId, asset, address],
  );
  return rows[0];
}

export async function listAllowList(db: Queryable, accountId: string): Promise<AllowListRow[]> {
  const { rows } = await db.query<AllowListRow>(
    'SELECT * FROM withdrawal_allow_list WHERE account_id = $1 AND removed_at IS NULL ORDER BY asset, added_at',
    [accountId],
  );
  return rows;
}

/** Stores a sealed secret; false when the account is enrolled already (a secret is shown once and never replaced silently). */
export async function insertTotpEnrolment(db: Queryable, accountId: string, secretCiphertext: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'INSERT INTO totp_enrolments (account_id, secret_ciphertext) VALUES ($1, $2) ON CONFLICT DO NOTHING',
    [accountId, secretCiphertext],
  );
  return rowCount === 1;
}

export async function findTotpSecret(db: Queryable, accountId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ secret_ciphertext: string }>(
    'SELECT secret_ciphertext FROM totp_enrolments WHERE account_id = $1',
    [accountId],
  );
  return rows[0]?.secret_ciphertext;
}

/** Records a code's time step as used; undefined when another withdrawal used it first, else the withdrawal that holds it. */
export async function claimTimeStep(
  client: PoolClient,
  accountId: string,
  timeStep: number,
  withdrawalId: string,
): Promise<string> {
  await client.query(
    'INSERT INTO totp_used_codes (account_id, time_step, withdrawal_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
    [accountId, timeStep, withdrawalId],
  );
  const { rows } = await client.query<{ withdrawal_id: string }>(
    'SELECT withdrawal_id FROM totp_used_codes WHERE account_id = $1 AND time_step = $2',
    [accountId, timeStep],
  );
  return rows[0]?.withdrawal_id ?? '';
}

/** The time step this withdrawal already claimed (an attempt that committed before its answer was lost). */
export async function findClaimedTimeStep(db: Queryable, accountId: string, withdrawalId: string): Promise<number | undefined> {
  const { rows } = await db.query<{ time_step: string }>(
    'SELECT time_step FROM totp_used_codes WHERE account_id = $1 AND withdrawal_id = $2',
    [accountId, withdrawalId],
  );
  return rows[0] === undefined ? undefined : Number(rows[0].time_step);
}
