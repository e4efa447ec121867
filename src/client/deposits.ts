import type { Pool } from 'pg';
import { z } from 'zod';
import { validationError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { issueField } from '../domain/schemas';
import { listDeposits, type DepositListRow, type DepositRow } from '../db/queries/deposits';

/** Read-only deposit views: what a person asks about a deposit, straight from PostgreSQL. */
export interface DepositView {
  depositId: string;
  bankReference: string;
  accountId: string;
  asset: string;
  /** Human decimal with the asset's scale ("250.00"). */
  amount: string;
  /** The same amount in minor units ("25000"). */
  amountMinor: string;
  senderName: string;
  status: DepositRow['status'];
  reason: string | null;
  workflowId: string;
  transferId: string | null;
  createdAt: string;
  updatedAt: string;
}

export const DEPOSIT_STATUSES = ['RECORDED', 'IN_REVIEW', 'APPROVED', 'REJECTED', 'CREDITED'] as const;

export const DepositListRequest = z
  .object({
    status: z.enum(DEPOSIT_STATUSES, { error: `status must be one of ${DEPOSIT_STATUSES.join(', ')}` }).optional(),
    limit: z.number().int().min(1, 'limit must be at least 1').max(1000, 'limit must be at most 1000').default(50),
  })
  .strict();
export type DepositListRequest = z.input<typeof DepositListRequest>;

/** The review reason as recorded names minor units; a person reads it in the asset's decimals. */
function humanReason(reason: string | null, asset: string, scale: number): string | null {
  return (
    reason?.replace(
      /^amount (\d+) is above the review threshold (\d+)$/,
      (_m, amount: string, threshold: string) =>
        `amount ${formatAmount(BigInt(amount), scale)} ${asset} is above the review threshold ${formatAmount(BigInt(threshold), scale)} ${asset}`,
    ) ?? null
  );
}

function toView(r: DepositListRow): DepositView {
  return {
    depositId: r.id,
    bankReference: r.bank_reference,
    accountId: r.account_id,
    asset: r.asset,
    amount: formatAmount(BigInt(r.amount), r.scale),
    amountMinor: r.amount,
    senderName: r.sender_name,
    status: r.status,
    reason: humanReason(r.reason, r.asset, r.scale),
    workflowId: r.workflow_id,
    transferId: r.transfer_id,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}

/** The deposit with this bank reference, or undefined when none was recorded. */
export async function findDepositView(pool: Pool, bankReference: string): Promise<DepositView | undefined> {
  const [row] = await listDeposits(pool, { bankReference, limit: 1 });
  return row ? toView(row) : undefined;
}

/** Deposits, those waiting for review first. */
export async function listDepositViews(pool: Pool, request: DepositListRequest = {}): Promise<DepositView[]> {
  const parsed = DepositListRequest.safeParse(request);
  if (!parsed.success) {
    throw validationError(parsed.error.issues.map((i) => i.message).join('; '), { field: issueField(parsed.error) });
  }
  return (await listDeposits(pool, parsed.data)).map(toView);
}
