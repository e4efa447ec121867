import { z } from 'zod';
import { assetCode, uuid } from './schemas';

/** Inputs of the ledger activities: ids and codes come out canonical (see ./schemas). */

const idempotencyKey = z
  .string({ error: 'idempotencyKey must be a string' })
  .min(1, 'idempotencyKey must not be empty')
  .max(500, 'idempotencyKey must be at most 500 characters');
// Amounts are checked by parseMinorUnits, whose messages say what is wrong with the number.
const amount = z.string({ error: 'amount must be a decimal string of minor units' });

export const OpenAccountInput = z.object({
  accountId: uuid,
  asset: assetCode,
  owner: z.string({ error: 'owner must be a string' }).trim().min(1, 'owner must not be empty').max(200),
});
export type OpenAccountInput = z.input<typeof OpenAccountInput>;

export const AccountIdInput = uuid;

export const TransferInput = z.object({
  idempotencyKey,
  debitAccountId: uuid,
  creditAccountId: uuid,
  asset: assetCode,
  amount,
});
export type TransferInput = z.input<typeof TransferInput>;

export const CaptureInput = z.object({ idempotencyKey, holdId: uuid, amount });
export type CaptureInput = z.input<typeof CaptureInput>;

/** A hold named by id, or by the idempotency key that placed it (usable before it exists). */
export const ReleaseInput = z.union([z.object({ holdId: uuid }), z.object({ holdIdempotencyKey: idempotencyKey })], {
  error: 'name the hold by holdId or by holdIdempotencyKey',
});
export type ReleaseInput = z.input<typeof ReleaseInput>;
