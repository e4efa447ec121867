import type { z } from 'zod';
import { validationError } from '../domain/errors';
import { captureIdFor, holdIdFor, legacyStepId, transferIdFor } from '../domain/ids';
import * as schema from '../domain/ledger';
import { parseMinorUnits } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { captureHold, openUserAccount, placeHold, postTransfer, releaseHold } from '../db/ledger';
import { findAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import { findHold, insertHoldTombstone, lockHoldId } from '../db/queries/holds';
import { findTransfer } from '../db/queries/transfers';
import type { PoolClient } from 'pg';
import type { ActivityDeps } from './deps';
import { transactional, type ActivityScope } from './boundary';

// Inputs are parsed at this boundary (canonical ids and codes); row ids derive from `idempotencyKey`.
export type { OpenAccountInput, TransferInput, CaptureInput, ReleaseInput } from '../domain/ledger';
export type HoldInput = schema.TransferInput;

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

/** Parses an activity input at the boundary: canonical ids and codes, or a ValidationError naming the field. */
function parse<T extends z.ZodType>(inputSchema: T, raw: unknown, what: string): z.output<T> {
  const parsed = inputSchema.safeParse(raw);
  if (!parsed.success) {
    throw validationError(`invalid ${what}: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  }
  return parsed.data;
}

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
const movement = (input: z.output<typeof schema.TransferInput>, id: string, scope: ActivityScope) => ({
  id,
  debitAccountId: input.debitAccountId,
  creditAccountId: input.creditAccountId,
  asset: input.asset,
  amount: parseMinorUnits(input.amount),
  workflowId: scope.workflowId,
  step: input.idempotencyKey,
});

/**
 * The hold a key names: the one placed before holds had their own id namespace (found by
 * its legacy id and its `step`), else the id in the hold namespace.
 */
async function holdIdOfKey(tx: PoolClient, key: string): Promise<string> {
  const legacy = await findHold(tx, legacyStepId(key));
  return legacy?.step === key ? legacy.id : holdIdFor(key);
}

export function createLedgerActivities(deps: ActivityDeps) {
  return {
    openAccount: transactional(deps, 'openAccount', async (raw: schema.OpenAccountInput, tx) => {
      const input = parse(schema.OpenAccountInput, raw, 'account');
      if ((await findAssetScale(tx, input.asset)) === undefined) {
        throw validationError(`asset: unknown asset "${input.asset}"`, { field: 'asset' });
      }
      const { row } = await openUserAccount(tx, { id: input.accountId, asset: input.asset, owner: input.owner });
      return toAccountView(row);
    }),

    getAccount: transactional(deps, 'getAccount', async (raw: string, tx) => {
      const row = await findAccount(tx, parse(schema.AccountIdInput, raw, 'account id'));
      return row ? toAccountView(row) : undefined;
    }),

    transfer: transactional(deps, 'transfer', async (raw: schema.TransferInput, tx, scope): Promise<TransferResult> => {
      const input = parse(schema.TransferInput, raw, 'transfer');
      const { row, created } = await postTransfer(tx, movement(input, transferIdFor(input.idempotencyKey), scope));
      return { transferId: row.id, amount: row.amount, created };
    }),

    placeHold: transactional(deps, 'placeHold', async (raw: HoldInput, tx, scope): Promise<HoldResult> => {
      const input = parse(schema.TransferInput, raw, 'hold');
      const { row, created } = await placeHold(tx, movement(input, await holdIdOfKey(tx, input.idempotencyKey), scope));
      return { holdId: row.id, amount: row.amount, status: row.status, captured: row.captured, released: row.released, created };
    }),

    captureHold: transactional(deps, 'captureHold', async (raw: schema.CaptureInput, tx, scope): Promise<TransferResult> => {
      const input = parse(schema.CaptureInput, raw, 'capture');
      // A capture written under its legacy id by an earlier attempt of this step is that attempt's result.
      const legacy = await findTransfer(tx, legacyStepId(input.idempotencyKey));
      const legacyCapture = legacy?.step === input.idempotencyKey && legacy.hold_id === input.holdId;
      const { row, created } = await captureHold(tx, {
        transferId: legacyCapture ? legacy.id : captureIdFor(input.idempotencyKey),
        holdId: input.holdId,
        amount: parseMinorUnits(input.amount),
        workflowId: scope.workflowId,
        step: input.idempotencyKey,
      });
      return { transferId: row.id, amount: row.amount, created };
    }),

    /** Compensation-safe: releasing a hold that never existed or is closed does nothing. */
    releaseHold: transactional(deps, 'releaseHold', async (raw: schema.ReleaseInput, tx) => {
      const input = parse(schema.ReleaseInput, raw, 'release');
      if ('holdId' in input) {
        const { released } = await releaseHold(tx, input.holdId);
        return { holdId: input.holdId, released: released.toString() };
      }
      const key = input.holdIdempotencyKey;
      // Fence a late placement under the legacy id too (an older worker may still run the step).
      await lockHoldId(tx, legacyStepId(key));
      const holdId = await holdIdOfKey(tx, key);
      const { released, hold } = await releaseHold(tx, holdId);
      if (!hold && holdId !== legacyStepId(key)) await insertHoldTombstone(tx, legacyStepId(key));
      return { holdId, released: released.toString() };
    }),
  };
}
