import type { PoolClient } from 'pg';
import { DomainError } from '../../domain/errors';
import { captureIdFor, holdIdFor, transferIdFor } from '../../domain/ids';
import type { OperationParams } from '../../domain/operations';
import { formatAmount } from '../../domain/money';
import { opKey } from '../../domain/tx-ids';
import { captureHold, placeHold, postTransfer, releaseHold } from '../ledger';
import { lockAccounts } from '../queries/accounts';
import { findAssetScale } from '../queries/assets';
import { findHold } from '../queries/holds';
import type { OperationContext, OperationEffect } from './types';

/** The ledger operations, on the ledger building blocks. Each returns its result and how to undo it. */

/**
 * Refuses a movement out of a frozen account. Locks both accounts first (id order, as the
 * building block that follows does), so a freeze cannot commit between this check and the move.
 */
async function refuseFrozen(client: PoolClient, accountId: string, otherAccountId: string): Promise<void> {
  const account = (await lockAccounts(client, [accountId, otherAccountId])).get(accountId);
  if (account?.frozen) {
    throw new DomainError(
      'InvalidState',
      `account ${accountId} is frozen${account.frozen_reason ? ` (${account.frozen_reason})` : ''}; nothing moves out of it`,
      { accountId },
    );
  }
}

/** An amount as a person reads it: human decimals with the asset (minor units when the asset is unknown). */
async function human(client: PoolClient, amount: bigint | string, asset: string): Promise<string> {
  const scale = await findAssetScale(client, asset);
  return scale === undefined ? `${amount} minor units of ${asset}` : `${formatAmount(BigInt(amount), scale)} ${asset}`;
}

const holdIdOf = (ctx: OperationContext, p: { holdId?: string; holdOperation?: number }): string =>
  p.holdId ?? holdIdFor(opKey(ctx.txId, p.holdOperation as number));

/** A reverse transfer: the undo of a transfer or a capture. */
export interface ReverseTransfer {
  kind: 'reverse';
  id: string;
  debitAccountId: string;
  creditAccountId: string;
  asset: string;
  amount: string;
}

export async function transfer(
  client: PoolClient,
  ctx: OperationContext,
  p: OperationParams<'ledger.transfer'>,
): Promise<OperationEffect> {
  await refuseFrozen(client, p.debitAccountId, p.creditAccountId);
  const key = opKey(ctx.txId, ctx.position);
  const { row } = await postTransfer(client, {
    id: transferIdFor(key),
    debitAccountId: p.debitAccountId,
    creditAccountId: p.creditAccountId,
    asset: p.asset,
    amount: BigInt(p.amount),
    workflowId: ctx.workflowId,
    step: key,
  });
  const undo: ReverseTransfer = {
    kind: 'reverse',
    id: transferIdFor(`${key}:undo`),
    debitAccountId: row.credit_account_id,
    creditAccountId: row.debit_account_id,
    asset: row.asset,
    amount: row.amount,
  };
  return { ref: row.id, detail: `transfer ${await human(client, row.amount, row.asset)}`, result: { transferId: row.id }, undo };
}

export async function hold(
  client: PoolClient,
  ctx: OperationContext,
  p: OperationParams<'ledger.hold'>,
): Promise<OperationEffect> {
  await refuseFrozen(client, p.debitAccountId, p.creditAccountId);
  const key = opKey(ctx.txId, ctx.position);
  const { row } = await placeHold(client, {
    id: holdIdFor(key),
    debitAccountId: p.debitAccountId,
    creditAccountId: p.creditAccountId,
    asset: p.asset,
    amount: BigInt(p.amount),
    workflowId: ctx.workflowId,
    step: key,
  });
  return {
    ref: row.id,
    detail: `hold ${await human(client, row.amount, row.asset)}`,
    result: { holdId: row.id },
    undo: { kind: 'release', holdId: row.id },
  };
}

export async function capture(
  client: PoolClient,
  ctx: OperationContext,
  p: OperationParams<'ledger.capture'>,
): Promise<OperationEffect> {
  const key = opKey(ctx.txId, ctx.position);
  const holdId = holdIdOf(ctx, p);
  // A capture moves the held funds out of the hold's debit account: not out of a frozen one.
  const held = await findHold(client, holdId);
  if (held) await refuseFrozen(client, held.debit_account_id, held.credit_account_id);
  const { row } = await captureHold(client, {
    transferId: captureIdFor(key),
    holdId,
    amount: BigInt(p.amount),
    workflowId: ctx.workflowId,
    step: key,
  });
  const undo: ReverseTransfer = {
    kind: 'reverse',
    id: transferIdFor(`${key}:undo`),
    debitAccountId: row.credit_account_id,
    creditAccountId: row.debit_account_id,
    asset: row.asset,
    amount: row.amount,
  };
  return {
    ref: row.id,
    detail: `capture ${await human(client, row.amount, row.asset)} of hold ${holdId}`,
    result: { transferId: row.id, holdId },
    undo,
  };
}

/** Releasing reserved funds is not undone: the funds are free again, as before the hold. */
export async function release(
  client: PoolClient,
  ctx: OperationContext,
  p: OperationParams<'ledger.release'>,
): Promise<OperationEffect> {
  const holdId = holdIdOf(ctx, p);
  if (!(await findHold(client, holdId))) {
    throw new DomainError('NotFound', `hold ${holdId} does not exist`, { holdId });
  }
  const { released, hold: row } = await releaseHold(client, holdId);
  return {
    ref: holdId,
    detail: row ? `release ${await human(client, released, row.asset)} of hold ${holdId}` : `release nothing of hold ${holdId}`,
    result: { holdId, released: released.toString() },
    undo: null,
  };
}

export async function undoLedger(client: PoolClient, ctx: OperationContext, undo: unknown): Promise<string> {
  const u = undo as ReverseTransfer | { kind: 'release'; holdId: string } | null;
  if (!u) return 'nothing to undo';
  if (u.kind === 'release') {
    const { released, hold: row } = await releaseHold(client, u.holdId);
    return row ? `released ${await human(client, released, row.asset)} of hold ${u.holdId}` : `nothing held by ${u.holdId}`;
  }
  const { row } = await postTransfer(client, {
    id: u.id,
    debitAccountId: u.debitAccountId,
    creditAccountId: u.creditAccountId,
    asset: u.asset,
    amount: BigInt(u.amount),
    workflowId: ctx.workflowId,
    step: `${opKey(ctx.txId, ctx.position)}:undo`,
  });
  return `reversed by transfer ${row.id}`;
}
