import { z } from 'zod';
import { assetCode, minorUnits, uuid } from './schemas';

/** What the saga starts with. The one-time code travels only as ciphertext (see src/security/secret-box.ts). */
export const WithdrawalInput = z
  .object({
    withdrawalId: uuid,
    accountId: uuid,
    asset: assetCode,
    address: z
      .string({ error: 'address must be a string' })
      .trim()
      .min(1, 'address must not be empty')
      .max(128, 'address must be at most 128 characters'),
    /** Minor units of `asset`, as a decimal string; the network fee comes on top. */
    amount: minorUnits,
    /** The one-time code sealed with the workers' key, bound to this withdrawal id. */
    otpCiphertext: z.string({ error: 'otpCiphertext must be a string' }).min(1).max(512),
    /** Seconds between confirmation checks (default 30; tests use less). */
    pollSeconds: z.number({ error: 'pollSeconds must be a number' }).min(0.05).max(3600).optional(),
    /** Confirmation checks per workflow run before the wait continues in a new run (default 400; tests use less). */
    pollsPerRun: z.number().int().min(1).max(10_000).optional(),
    /** How long transient faults are retried before the saga gives up; default WITHDRAWAL_DEADLINE_HOURS. */
    deadlineSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
  })
  .strict();
export type WithdrawalInput = z.infer<typeof WithdrawalInput>;

export const WITHDRAWAL_DEADLINE_HOURS = 24;
export const DEFAULT_POLL_SECONDS = 30;

export const WITHDRAWAL_STATUSES = ['HELD', 'BROADCAST', 'COMPLETED', 'RELEASED'] as const;
export type WithdrawalStatus = (typeof WITHDRAWAL_STATUSES)[number];

/** The validated withdrawal: amounts in minor units, the address in its canonical form. */
export interface ValidWithdrawal {
  withdrawalId: string;
  accountId: string;
  asset: string;
  address: string;
  amount: string;
  fee: string;
  confirmationsRequired: number;
  dailyLimit: string;
}

export interface WithdrawalResult {
  withdrawalId: string;
  accountId: string;
  asset: string;
  address: string;
  amount: string;
  fee: string;
  chainTxId: string;
  confirmations: number;
  status: 'COMPLETED';
}

/** What the saga is doing, for the `withdrawalProgress` query. */
export interface WithdrawalProgress {
  phase: 'checking' | 'held' | 'broadcasting' | 'confirming' | 'capturing' | 'done' | 'failed';
  txId?: string;
  confirmations: number;
  confirmationsRequired: number;
  reorgs: number;
  rebroadcasts: number;
}

/** What a run waiting for confirmations hands to the next (continueAsNew): past the broadcast, nothing to undo. */
export interface WithdrawalResume {
  valid: ValidWithdrawal;
  status: { state: 'pending' | 'confirmed' | 'dropped' | 'abandoned' | 'unknown'; txId?: string; confirmations: number };
  progress: WithdrawalProgress;
  stepsDone: string[];
}

export interface CancelWithdrawalResult {
  cancelled: boolean;
  reason: string;
}

/** Idempotency keys of the saga's ledger steps, from its workflow id. */
export const withdrawalHoldKey = (workflowId: string): string => `${workflowId}:hold`;
export const withdrawalCaptureKey = (workflowId: string): string => `${workflowId}:capture`;
