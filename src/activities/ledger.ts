import { validationError } from '../domain/errors';
import { stepId } from '../domain/ids';
import { parseMinorUnits } from '../domain/money';
import { captureHold, openUserAccount, placeHold, postTransfer, releaseHold } from '../db/ledger';
import { findAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import type { ActivityDeps } from './deps';
import { transactional, type ActivityScope } from './boundary';

export interface OpenAccountInput {
  accountId: string;
  asset: string;
  owner: string;
}

export interface AccountView {
  accountId: string;
  asset: string;
  owner: string;
  kind: 'user' | 'house';
  /** Minor units, as decimal strings. */
  debitsPending: string;
  debitsPosted: string;
  creditsPending: string;
  creditsPosted: string;
  /** credits_posted − debits_posted. */
  balance: string;
  /** What can still be spent: balance − debits_pending. */
  available: string;
}

export interface TransferInput {
  /** Deterministic: the transfer id is derived from it, so a retry finds the first transfer. */
  idempotencyKey: string;
  debitAccountId: string;
  creditAccountId: string;
  asset: string;
  amount: string;
}

export interface HoldInput extends TransferInput {}

export interface CaptureInput {
  idempotencyKey: string;
  holdId: string;
  amount: string;
}

/** A hold named by id, or by the idempotency key that placed it (usable before it exists). */
export type ReleaseInput = { holdId: string } | { holdIdempotencyKey: string };

export interface TransferResult {
  transferId: string;
  amount: string;
  created: boolean;
}

export interface HoldResult {
  holdId: string;
  amount: string;
  status: string;
  captured: string;
  released: string;
  created: boolean;
}

export function toAccountView(row: {
  id: string;
  asset: string;
  owner: string;
  kind: 'user' | 'house';
  debits_pending: string;
  debits_posted: string;
  credits_pending: string;
  credits_posted: string;
}): AccountView {
  const balance = BigInt(row.credits_posted) - BigInt(row.debits_posted);
  return {
    accountId: row.id,
    asset: row.asset,
    owner: row.owner,
    kind: row.kind,
    debitsPending: row.debits_pending,
    debitsPosted: row.debits_posted,
    creditsPending: row.credits_pending,
    creditsPosted: row.credits_posted,
    balance: balance.toString(),
    available: (balance - BigInt(row.debits_pending)).toString(),
  };
}

/** The ledger row a transfer or hold request asks for; its id is derived from the idempotency key. */
const movement = (input: TransferInput, scope: ActivityScope) => ({
  id: stepId(input.idempotencyKey),
  debitAccountId: input.debitAccountId,
  creditAccountId: input.creditAccountId,
  asset: input.asset,
  amount: parseMinorUnits(input.amount),
  workflowId: scope.workflowId,
  step: input.idempotencyKey,
});

export function createLedgerActivities(deps: ActivityDeps) {
  return {
    openAccount: transactional(deps, 'openAccount', async (input: OpenAccountInput, tx) => {
      if ((await findAssetScale(tx, input.asset)) === undefined) {
        throw validationError(`asset: unknown asset "${input.asset}"`, { field: 'asset' });
      }
      const { row } = await openUserAccount(tx, { id: input.accountId, asset: input.asset, owner: input.owner });
      return toAccountView(row);
    }),

    getAccount: transactional(deps, 'getAccount', async (accountId: string, tx) => {
      const row = await findAccount(tx, accountId);
      return row ? toAccountView(row) : undefined;
    }),

    transfer: transactional(deps, 'transfer', async (input: TransferInput, tx, scope): Promise<TransferResult> => {
      const { row, created } = await postTransfer(tx, movement(input, scope));
      return { transferId: row.id, amount: row.amount, created };
    }),

    placeHold: transactional(deps, 'placeHold', async (input: HoldInput, tx, scope): Promise<HoldResult> => {
      const { row, created } = await placeHold(tx, movement(input, scope));
      return { holdId: row.id, amount: row.amount, status: row.status, captured: row.captured, released: row.released, created };
    }),

    captureHold: transactional(deps, 'captureHold', async (input: CaptureInput, tx, scope): Promise<TransferResult> => {
      const { row, created } = await captureHold(tx, {
        transferId: stepId(input.idempotencyKey),
        holdId: input.holdId,
        amount: parseMinorUnits(input.amount),
        workflowId: scope.workflowId,
        step: input.idempotencyKey,
      });
      return { transferId: row.id, amount: row.amount, created };
    }),

    /** Compensation-safe: releasing a hold that never existed or is closed does nothing. */
    releaseHold: transactional(deps, 'releaseHold', async (input: ReleaseInput, tx) => {
      const holdId = 'holdId' in input ? input.holdId : stepId(input.holdIdempotencyKey);
      const { released } = await releaseHold(tx, holdId);
      return { holdId, released: released.toString() };
    }),
  };
}
