import { z } from 'zod';
import { assetCode, bankReference, minorUnits, uuid } from './schemas';

// PostgreSQL text cannot hold NUL (22021): refused here, before anything is started or written.
const noNul = (s: string): boolean => !s.includes('\u0000');

export const DepositInput = z
  .object({
    accountId: uuid,
    asset: assetCode,
    /** Minor units of `asset`, as a decimal string. */
    amount: minorUnits,
    bankReference,
    senderName: z
      .string({ error: 'senderName must be a string' })
      .trim()
      .min(1, 'senderName must not be empty')
      .max(200, 'senderName must be at most 200 characters')
      .refine(noNul, 'senderName must not contain NUL characters'),
    /** Overrides the configured review timeout; mainly for tests and drills. */
    reviewTimeoutSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
    /** The saga's business deadline: how long transient faults are retried before it gives up; default DEPOSIT_DEADLINE_HOURS. */
    deadlineSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 24 * 3600)
      .optional(),
  })
  .strict();
export type DepositInput = z.infer<typeof DepositInput>;

/** How long a deposit saga keeps retrying transient faults (review waits not counted) before it gives up and compensates. */
export const DEPOSIT_DEADLINE_HOURS = 72;

/** The ledger step labels of a deposit's credit and its reversal: by bank reference, whichever saga made them. */
export const depositCreditStep = (bankReference: string): string => `deposit-credit:${bankReference}`;
export const depositReversalStep = (bankReference: string): string => `deposit-reversal:${bankReference}`;

export const DEPOSIT_STATUSES = ['RECORDED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'CREDITED'] as const;
export type DepositStatus = (typeof DEPOSIT_STATUSES)[number];

export type ScreeningOutcome =
  | { decision: 'clear' }
  | { decision: 'review'; reason: string; reviewTimeoutSeconds: number }
  | { decision: 'deny'; reason: string };

export interface ReviewDecision {
  approved: boolean;
  reviewer: string;
  reason?: string;
}

export const ReviewDecisionInput = z
  .object({
    reviewer: z
      .string()
      .trim()
      .min(1, 'reviewer must name who decided')
      .max(200)
      .refine(noNul, 'reviewer must not contain NUL characters'),
    reason: z.string().max(1000).refine(noNul, 'reason must not contain NUL characters').optional(),
  })
  .strict();

export interface DepositResult {
  depositId: string;
  bankReference: string;
  accountId: string;
  asset: string;
  amount: string;
  status: 'CREDITED' | 'DUPLICATE';
  /** For a duplicate: the workflow that owns the bank reference. */
  originalWorkflowId?: string;
  transferId?: string;
}
