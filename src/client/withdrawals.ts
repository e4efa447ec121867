import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { z } from 'zod';
import { canonicalAddress, type ChainNetwork } from '../domain/address';
import { DomainError, validationError } from '../domain/errors';
import { formatAmount, parseHumanAmount } from '../domain/money';
import { assetCode, describeIssues, issueField, uuid } from '../domain/schemas';
import {
  WithdrawalInput,
  type CancelWithdrawalResult,
  type WithdrawalProgress,
  type WithdrawalResult,
} from '../domain/withdrawal';
import { findAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import {
  insertTotpEnrolment,
  listAllowList,
  removeAllowListEntry,
  upsertAllowListEntry,
  type AllowListRow,
} from '../db/queries/withdrawal-security';
import { findWithdrawal, listWithdrawals, type WithdrawalRow } from '../db/queries/withdrawals';
import { loadTotpKey, otpContext, seal, secretContext } from '../security/secret-box';
import { newTotpSecret } from '../security/totp';
import { cancelWithdrawalUpdate, withdrawalProgressQuery, withdrawCrypto as withdrawCryptoWorkflow } from '../workflows';
import type { TxmgrClient } from './index';

/** A withdrawal as a person types it: a human decimal amount and the code from their authenticator app. */
export const WithdrawalRequest = z
  .object({
    accountId: uuid,
    asset: assetCode,
    address: z.string({ error: 'address must be a string' }),
    amount: z.string({ error: 'amount must be a decimal string such as "0.5"' }),
    otp: z
      .string({ error: 'otp must be a string of 6 digits' })
      .trim()
      .regex(/^[0-9]{6}$/, 'otp must be 6 digits'),
    withdrawalId: uuid.optional(),
    pollSeconds: z.number().optional(),
    deadlineSeconds: z.number().int().optional(),
    pollsPerRun: z.number().int().optional(),
  })
  .strict();
export type WithdrawalRequest = z.input<typeof WithdrawalRequest>;

export const withdrawalWorkflowId = (withdrawalId: string): string => `withdrawal-${withdrawalId.trim().toLowerCase()}`;

/** Default cooling-off of a new allow-list entry: TXMGR_ALLOWLIST_COOLING_OFF_SECONDS, else 24 hours. */
export const defaultCoolingOffSeconds = (env: NodeJS.ProcessEnv = process.env): number =>
  /^[0-9]{1,9}$/.test(env.TXMGR_ALLOWLIST_COOLING_OFF_SECONDS ?? '') ? Number(env.TXMGR_ALLOWLIST_COOLING_OFF_SECONDS) : 86_400;

export const chainNetwork = (env: NodeJS.ProcessEnv = process.env): ChainNetwork =>
  env.CHAIN_NETWORK === 'testnet' ? 'testnet' : 'mainnet';

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw validationError(`invalid ${what}: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  }
  return parsed.data;
}

/**
 * Checks and converts the request, seals the one-time code (bound to the withdrawal id) and
 * starts the saga. The code is in workflow history only as ciphertext; the secret never is.
 */
export async function startWithdrawal(
  txmgr: TxmgrClient,
  request: WithdrawalRequest,
  key = loadTotpKey(),
): Promise<{ withdrawalId: string; workflowId: string }> {
  const r = parseOrThrow(WithdrawalRequest, request, 'withdrawal');
  // Refused before anything starts, as a deposit to an unknown account is.
  if (!(await findAccount(txmgr.pool, r.accountId))) {
    throw validationError(`accountId: account ${r.accountId} does not exist`, { field: 'accountId' });
  }
  const scale = await txmgr.assetScale(r.asset);
  const amount = parseHumanAmount(r.amount, scale);
  const withdrawalId = r.withdrawalId ?? randomUUID();
  const input = parseOrThrow(
    WithdrawalInput,
    {
      withdrawalId,
      accountId: r.accountId,
      asset: r.asset,
      address: r.address,
      amount: amount.toString(),
      otpCiphertext: seal(key, r.otp, otpContext(withdrawalId)),
      pollSeconds: r.pollSeconds,
      deadlineSeconds: r.deadlineSeconds,
      pollsPerRun: r.pollsPerRun,
    },
    'withdrawal',
  );
  const workflowId = withdrawalWorkflowId(withdrawalId);
  await txmgr.temporal.workflow.start(withdrawCryptoWorkflow, {
    taskQueue: txmgr.taskQueue,
    workflowId,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    staticSummary: `withdraw ${formatAmount(amount, scale)} ${input.asset} from account ${input.accountId} to ${input.address}`,
  });
  return { withdrawalId, workflowId };
}

/** Runs a withdrawal to its end: COMPLETED, or a typed failure (ValidationError, SecurityRejected, ChainRejected, …). */
export async function withdrawCrypto(txmgr: TxmgrClient, request: WithdrawalRequest, key?: Buffer): Promise<WithdrawalResult> {
  const { workflowId } = await startWithdrawal(txmgr, request, key);
  return txmgr.temporal.workflow.getHandle<typeof withdrawCryptoWorkflow>(workflowId).result();
}

/** Cancels before the broadcast (the hold is released); after it the answer says why not. */
export async function cancelWithdrawal(
  txmgr: TxmgrClient,
  withdrawalId: string,
  reason?: string,
): Promise<CancelWithdrawalResult> {
  const id = parseOrThrow(uuid, withdrawalId, 'withdrawal id');
  return txmgr.temporal.workflow
    .getHandle(withdrawalWorkflowId(id))
    .executeUpdate(cancelWithdrawalUpdate, { args: [{ reason }] });
}

export async function withdrawalProgress(txmgr: TxmgrClient, withdrawalId: string): Promise<WithdrawalProgress> {
  return txmgr.temporal.workflow.getHandle(withdrawalWorkflowId(withdrawalId)).query(withdrawalProgressQuery);
}

export interface WithdrawalView {
  withdrawalId: string;
  accountId: string;
  asset: string;
  address: string;
  /** Human decimals with the asset's scale, and the same in minor units. */
  amount: string;
  amountMinor: string;
  fee: string;
  feeMinor: string;
  status: WithdrawalRow['status'];
  chainTxId: string | null;
  confirmations: number;
  reason: string | null;
  workflowId: string;
  createdAt: string;
  updatedAt: string;
}

const toView = (r: WithdrawalRow, scale: number): WithdrawalView => ({
  withdrawalId: r.id,
  accountId: r.account_id,
  asset: r.asset,
  address: r.address,
  amount: formatAmount(BigInt(r.amount), scale),
  amountMinor: r.amount,
  fee: formatAmount(BigInt(r.fee), scale),
  feeMinor: r.fee,
  status: r.status,
  chainTxId: r.chain_tx_id,
  confirmations: r.confirmations,
  reason: r.reason,
  workflowId: r.workflow_id,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/** The withdrawal's row, or undefined when no hold was placed for it (refused, or still being checked). */
export async function getWithdrawal(pool: Pool, withdrawalId: string): Promise<WithdrawalView | undefined> {
  const row = await findWithdrawal(pool, parseOrThrow(uuid, withdrawalId, 'withdrawal id'));
  if (!row) return undefined;
  return toView(row, (await findAssetScale(pool, row.asset)) ?? 0);
}

export async function listWithdrawalViews(pool: Pool, f: { accountId?: string; limit?: number } = {}): Promise<WithdrawalView[]> {
  const accountId = f.accountId === undefined ? undefined : parseOrThrow(uuid, f.accountId, 'account id');
  return (await listWithdrawals(pool, { accountId, limit: f.limit ?? 50 })).map((r) => toView(r, r.scale));
}

export interface AllowListView {
  accountId: string;
  asset: string;
  address: string;
  addedAt: string;
  usableFrom: string;
}

const allowView = (r: AllowListRow): AllowListView => ({
  accountId: r.account_id,
  asset: r.asset,
  address: r.address,
  addedAt: r.added_at.toISOString(),
  usableFrom: r.usable_from.toISOString(),
});

async function userAccount(pool: Pool, accountId: string, asset: string): Promise<void> {
  const account = await findAccount(pool, accountId);
  if (!account || account.kind !== 'user')
    throw validationError(`accountId: account ${accountId} does not exist`, { field: 'accountId' });
  if (account.asset !== asset)
    throw validationError(`asset: account ${accountId} holds ${account.asset}, not ${asset}`, { field: 'asset' });
}

/** Puts a destination on the account's allow-list (checked and canonical); usable after the cooling-off period. */
export async function allowWithdrawalAddress(
  pool: Pool,
  e: { accountId: string; asset: string; address: string; coolingOffSeconds?: number; network?: ChainNetwork },
): Promise<AllowListView> {
  const accountId = parseOrThrow(uuid, e.accountId, 'account id');
  const asset = parseOrThrow(assetCode, e.asset, 'asset');
  await userAccount(pool, accountId, asset);
  const address = canonicalAddress(asset, e.address.trim(), e.network ?? chainNetwork());
  const coolingOffSeconds = e.coolingOffSeconds ?? defaultCoolingOffSeconds();
  if (!Number.isInteger(coolingOffSeconds) || coolingOffSeconds < 0) {
    throw validationError('coolingOffSeconds must be a whole number of seconds, 0 or more', { field: 'coolingOffSeconds' });
  }
  return allowView(await upsertAllowListEntry(pool, { accountId, asset, address, coolingOffSeconds }));
}

export async function listAllowedAddresses(pool: Pool, accountId: string): Promise<AllowListView[]> {
  return (await listAllowList(pool, parseOrThrow(uuid, accountId, 'account id'))).map(allowView);
}

export async function removeAllowedAddress(
  pool: Pool,
  e: { accountId: string; asset: string; address: string },
): Promise<boolean> {
  const asset = parseOrThrow(assetCode, e.asset, 'asset');
  let address = e.address.trim();
  try {
    address = canonicalAddress(asset, address, chainNetwork());
  } catch {
    // Not a valid address now: remove it as it was typed (an entry is only ever stored canonical).
  }
  return removeAllowListEntry(pool, parseOrThrow(uuid, e.accountId, 'account id'), asset, address);
}

/** Enrols the account for one-time codes; the otpauth URI is returned once and the secret stored only sealed. */
export async function enrollTotp(pool: Pool, accountId: string, key = loadTotpKey()): Promise<{ uri: string; secret: string }> {
  const id = parseOrThrow(uuid, accountId, 'account id');
  const account = await findAccount(pool, id);
  if (!account || account.kind !== 'user')
    throw validationError(`accountId: account ${id} does not exist`, { field: 'accountId' });
  const { secret, uri } = newTotpSecret(`${account.owner} (${account.asset})`);
  if (!(await insertTotpEnrolment(pool, id, seal(key, secret, secretContext(id))))) {
    throw new DomainError('InvalidState', `account ${id} is already enrolled; its secret is not shown again`);
  }
  return { uri, secret };
}
