import type { PoolClient } from 'pg';
import { DomainError, validationError } from '../domain/errors';
import {
  applyBalanceDelta,
  insertUserAccount,
  findAccount,
  lockAccounts,
  setAccountFrozen,
  type AccountRow,
} from './queries/accounts';
import {
  consumeHold,
  findHold,
  holdTombstoned,
  insertHold,
  insertHoldTombstone,
  lockHold,
  lockHoldId,
  type HoldRow,
  type NewHold,
} from './queries/holds';
import { findTransfer, insertTransfer, type NewTransfer, type TransferRow } from './queries/transfers';
import { accountKey, appendChange } from './changes';

/**
 * The ledger's building blocks. Each runs inside a transaction the caller owns,
 * takes account locks in id order, and is idempotent by id: the same id with the
 * same fields returns what exists; with other fields it is an IdempotencyConflict.
 * Each change it makes appends its change-log entry in the same transaction (./changes).
 */

export interface Posted<T> {
  row: T;
  /** False when the id existed already (a retry). */
  created: boolean;
}

function conflict(what: string, id: string, field: string): DomainError {
  return new DomainError(
    'IdempotencyConflict',
    `${what} ${id} already exists with a different ${field}; an id may be reused only for the identical request`,
    { id, field },
  );
}

function requireAccounts(accounts: Map<string, AccountRow>, ids: string[], asset: string): AccountRow[] {
  return ids.map((id) => {
    const account = accounts.get(id);
    if (!account) throw new DomainError('NotFound', `account ${id} does not exist`, { accountId: id });
    if (account.asset !== asset) {
      throw validationError(`account ${id} holds ${account.asset}, not ${asset}`, { accountId: id, asset });
    }
    return account;
  });
}

/** Refuses a debit that would take a constrained account below zero, holds included. */
function checkDebit(account: AccountRow, amount: bigint): void {
  if (!account.debits_must_not_exceed_credits) return;
  const available = BigInt(account.credits_posted) - BigInt(account.debits_posted) - BigInt(account.debits_pending);
  if (amount > available) {
    throw new DomainError(
      'InsufficientFunds',
      `account ${account.id} has ${available} ${account.asset} minor units available, ${amount} needed`,
      { accountId: account.id, available: available.toString(), requested: amount.toString() },
    );
  }
}

function checkCredit(account: AccountRow, amount: bigint): void {
  if (!account.credits_must_not_exceed_debits) return;
  const room = BigInt(account.debits_posted) - BigInt(account.credits_posted) - BigInt(account.credits_pending);
  if (amount > room) {
    throw new DomainError('InsufficientFunds', `account ${account.id} cannot take a credit of ${amount}`, {
      accountId: account.id,
    });
  }
}

function sameTransfer(existing: TransferRow, t: NewTransfer): void {
  if (existing.debit_account_id !== t.debitAccountId) throw conflict('transfer', t.id, 'debit account');
  if (existing.credit_account_id !== t.creditAccountId) throw conflict('transfer', t.id, 'credit account');
  if (BigInt(existing.amount) !== t.amount) throw conflict('transfer', t.id, 'amount');
  if ((existing.hold_id ?? undefined) !== t.holdId) throw conflict('transfer', t.id, 'hold');
}

/** The change-log entry of a transfer or hold, ordered causally with both its accounts' changes. */
async function logMovement(
  client: PoolClient,
  entity: 'transfer' | 'hold',
  change: string,
  row: TransferRow | HoldRow,
  extra: Record<string, string> = {},
): Promise<void> {
  const { created_at: _created, closed_at: _closed, ...data } = row as HoldRow;
  await appendChange(client, {
    entity,
    entityId: row.id,
    change,
    data: { ...data, ...extra },
    workflowId: row.workflow_id,
    causalKeys: [accountKey(row.debit_account_id), accountKey(row.credit_account_id)],
  });
}

export async function openUserAccount(
  client: PoolClient,
  a: { id: string; asset: string; owner: string },
): Promise<Posted<AccountRow>> {
  const inserted = await insertUserAccount(client, a);
  if (inserted) {
    await appendChange(client, {
      entity: 'account',
      entityId: inserted.id,
      change: 'opened',
      data: { asset: inserted.asset, owner: inserted.owner },
    });
    return { row: inserted, created: true };
  }
  const existing = await findAccount(client, a.id);
  if (!existing) throw new Error(`account ${a.id} vanished during open`);
  if (existing.asset !== a.asset) throw conflict('account', a.id, 'asset');
  if (existing.owner !== a.owner) throw conflict('account', a.id, 'owner');
  return { row: existing, created: false };
}

/** Posts a transfer at once: debits one account, credits the other. */
export async function postTransfer(client: PoolClient, t: NewTransfer): Promise<Posted<TransferRow>> {
  if (t.amount <= 0n) throw validationError('transfer amount must be greater than zero', { field: 'amount' });
  if (t.debitAccountId === t.creditAccountId) throw validationError('a transfer needs two different accounts');
  const accounts = await lockAccounts(client, [t.debitAccountId, t.creditAccountId]);
  const [debit, credit] = requireAccounts(accounts, [t.debitAccountId, t.creditAccountId], t.asset) as [AccountRow, AccountRow];
  const inserted = await insertTransfer(client, t);
  if (!inserted) {
    const existing = await findTransfer(client, t.id);
    if (!existing) throw new Error(`transfer ${t.id} vanished`);
    sameTransfer(existing, t);
    return { row: existing, created: false };
  }
  checkDebit(debit, t.amount);
  checkCredit(credit, t.amount);
  await applyBalanceDelta(client, debit.id, { debitsPosted: t.amount });
  await applyBalanceDelta(client, credit.id, { creditsPosted: t.amount });
  await logMovement(client, 'transfer', 'posted', inserted);
  return { row: inserted, created: true };
}

/** Reserves funds: a pending debit and credit, to be captured or released later. */
export async function placeHold(client: PoolClient, h: NewHold): Promise<Posted<HoldRow>> {
  if (h.amount <= 0n) throw validationError('hold amount must be greater than zero', { field: 'amount' });
  if (h.debitAccountId === h.creditAccountId) throw validationError('a hold needs two different accounts');
  await lockHoldId(client, h.id);
  if (await holdTombstoned(client, h.id)) {
    throw new DomainError('HoldNotOpen', `hold ${h.id} was released before it was placed; this late attempt places nothing`, {
      holdId: h.id,
    });
  }
  const accounts = await lockAccounts(client, [h.debitAccountId, h.creditAccountId]);
  const [debit, credit] = requireAccounts(accounts, [h.debitAccountId, h.creditAccountId], h.asset) as [AccountRow, AccountRow];
  const inserted = await insertHold(client, h);
  if (!inserted) {
    const existing = await findHold(client, h.id);
    if (!existing) throw new Error(`hold ${h.id} vanished`);
    if (existing.debit_account_id !== h.debitAccountId) throw conflict('hold', h.id, 'debit account');
    if (existing.credit_account_id !== h.creditAccountId) throw conflict('hold', h.id, 'credit account');
    if (BigInt(existing.amount) !== h.amount) throw conflict('hold', h.id, 'amount');
    return { row: existing, created: false };
  }
  checkDebit(debit, h.amount);
  checkCredit(credit, h.amount);
  await applyBalanceDelta(client, debit.id, { debitsPending: h.amount });
  await applyBalanceDelta(client, credit.id, { creditsPending: h.amount });
  await logMovement(client, 'hold', 'placed', inserted);
  return { row: inserted, created: true };
}

/** Locks a hold's accounts (in id order) and then the hold itself. */
async function lockHoldAndAccounts(client: PoolClient, holdId: string): Promise<HoldRow | undefined> {
  const unlocked = await findHold(client, holdId);
  if (!unlocked) return undefined;
  await lockAccounts(client, [unlocked.debit_account_id, unlocked.credit_account_id]);
  return lockHold(client, holdId);
}

/**
 * Posts part (or all) of an open hold. Repeatable with new transfer ids until the
 * hold is used up; a retry with the same transfer id returns the first capture.
 */
export async function captureHold(
  client: PoolClient,
  c: { transferId: string; holdId: string; amount: bigint; workflowId?: string; step?: string },
): Promise<Posted<TransferRow> & { hold: HoldRow }> {
  if (c.amount <= 0n) throw validationError('capture amount must be greater than zero', { field: 'amount' });
  const hold = await lockHoldAndAccounts(client, c.holdId);
  if (!hold) throw new DomainError('NotFound', `hold ${c.holdId} does not exist`, { holdId: c.holdId });
  const spec: NewTransfer = {
    id: c.transferId,
    debitAccountId: hold.debit_account_id,
    creditAccountId: hold.credit_account_id,
    asset: hold.asset,
    amount: c.amount,
    holdId: hold.id,
    workflowId: c.workflowId,
    step: c.step,
  };
  const inserted = await insertTransfer(client, spec);
  if (!inserted) {
    const existing = await findTransfer(client, c.transferId);
    if (!existing) throw new Error(`transfer ${c.transferId} vanished`);
    sameTransfer(existing, spec);
    return { row: existing, created: false, hold };
  }
  const remaining = BigInt(hold.amount) - BigInt(hold.captured) - BigInt(hold.released);
  if (hold.status !== 'open') {
    throw new DomainError('HoldNotOpen', `hold ${hold.id} is ${hold.status}; nothing is left to capture`, { holdId: hold.id });
  }
  if (c.amount > remaining) {
    throw validationError(`capture of ${c.amount} exceeds the ${remaining} left on hold ${hold.id}`, { holdId: hold.id });
  }
  await applyBalanceDelta(client, hold.debit_account_id, { debitsPending: -c.amount, debitsPosted: c.amount });
  await applyBalanceDelta(client, hold.credit_account_id, { creditsPending: -c.amount, creditsPosted: c.amount });
  const updated = await consumeHold(client, hold.id, c.amount, 0n);
  await logMovement(client, 'hold', 'captured', updated, { transferId: inserted.id, captured: c.amount.toString() });
  return { row: inserted, created: true, hold: updated };
}

/**
 * Releases whatever is left on a hold. Safe as a compensation: a missing or
 * already closed hold is a no-op, reported by `released: 0n`.
 */
export async function releaseHold(client: PoolClient, holdId: string): Promise<{ hold?: HoldRow; released: bigint }> {
  let hold = await lockHoldAndAccounts(client, holdId);
  if (!hold) {
    // Not placed (yet): leave a tombstone so a late placement of this id is refused.
    await lockHoldId(client, holdId);
    hold = await lockHoldAndAccounts(client, holdId);
    if (!hold) {
      await insertHoldTombstone(client, holdId);
      return { released: 0n };
    }
  }
  if (hold.status !== 'open') return { hold, released: 0n };
  const remaining = BigInt(hold.amount) - BigInt(hold.captured) - BigInt(hold.released);
  await applyBalanceDelta(client, hold.debit_account_id, { debitsPending: -remaining });
  await applyBalanceDelta(client, hold.credit_account_id, { creditsPending: -remaining });
  const updated = await consumeHold(client, hold.id, 0n, remaining);
  await logMovement(client, 'hold', 'released', updated, { releasedNow: remaining.toString() });
  return { hold: updated, released: remaining };
}

/**
 * Freezes or unfreezes an account under its lock, logging the change; returns the row as it
 * was before (undefined: no such account) and after. Setting the state it already has changes
 * and logs nothing.
 */
export async function changeAccountFrozen(
  client: PoolClient,
  a: { id: string; frozen: boolean; reason?: string; workflowId?: string },
): Promise<{ before?: AccountRow; after?: AccountRow }> {
  const before = (await lockAccounts(client, [a.id])).get(a.id);
  if (!before) return {};
  if (before.frozen === a.frozen && (!a.frozen || before.frozen_reason === (a.reason ?? null))) {
    return { before, after: before };
  }
  const after = await setAccountFrozen(client, a);
  await appendChange(client, {
    entity: 'account',
    entityId: a.id,
    change: a.frozen ? 'frozen' : 'unfrozen',
    data: { frozen: a.frozen, reason: after?.frozen_reason ?? null },
    workflowId: a.workflowId,
  });
  return { before, after };
}
