import type { PoolClient } from 'pg';
import { DomainError } from '../../domain/errors';
import type { OperationParams } from '../../domain/operations';
import { changeAccountFrozen } from '../ledger';
import type { OperationContext, OperationEffect } from './types';

/** account.freeze / account.unfreeze; the undo puts back the state the account had before. */
export async function setFrozen(
  client: PoolClient,
  ctx: OperationContext,
  p: OperationParams<'account.freeze'> | OperationParams<'account.unfreeze'>,
  frozen: boolean,
): Promise<OperationEffect> {
  const reason = 'reason' in p ? p.reason : undefined;
  const { before } = await changeAccountFrozen(client, { id: p.accountId, frozen, reason, workflowId: ctx.workflowId });
  if (!before) throw new DomainError('NotFound', `account ${p.accountId} does not exist`, { accountId: p.accountId });
  return {
    ref: p.accountId,
    detail: frozen ? `freeze account ${p.accountId}` : `unfreeze account ${p.accountId}`,
    result: { accountId: p.accountId, frozen: String(frozen) },
    undo: { kind: 'frozen', accountId: p.accountId, frozen: before.frozen, reason: before.frozen_reason },
  };
}

export async function undoFrozen(client: PoolClient, ctx: OperationContext, undo: unknown): Promise<string> {
  const u = undo as { accountId: string; frozen: boolean; reason: string | null };
  await changeAccountFrozen(client, {
    id: u.accountId,
    frozen: u.frozen,
    reason: u.reason ?? undefined,
    workflowId: ctx.workflowId,
  });
  return u.frozen ? `account ${u.accountId} frozen again` : `account ${u.accountId} unfrozen again`;
}
