import type { Pool } from 'pg';
import { toAccountView } from '../activities/ledger';
import { DomainError, validationError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { uuid } from '../domain/schemas';
import { findAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import type { Balance } from './index';

/** An account's balance from PostgreSQL alone (no Temporal needed): the same shape as TxmgrClient.getBalance. */
export async function readBalance(pool: Pool, accountId: string): Promise<Balance> {
  const parsed = uuid.safeParse(accountId);
  if (!parsed.success) throw validationError(`account id must be a UUID, got "${accountId}"`, { field: 'accountId' });
  const row = await findAccount(pool, parsed.data);
  if (!row) throw new DomainError('NotFound', `account ${parsed.data} does not exist`);
  const scale = await findAssetScale(pool, row.asset);
  if (scale === undefined) throw new DomainError('NotFound', `asset ${row.asset} is unknown`);
  return toBalance(row, scale);
}

/** An account row with its asset's scale, as the client shows it: amounts also in human decimals. */
export function toBalance(row: Parameters<typeof toAccountView>[0], scale: number): Balance {
  const view = toAccountView(row);
  return {
    ...view,
    scale,
    balanceDisplay: formatAmount(BigInt(view.balance), scale),
    availableDisplay: formatAmount(BigInt(view.available), scale),
  };
}
