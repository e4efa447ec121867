import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import {
  Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
} from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { z } from 'zod';
import type { AccountView } from '../activities/ledger';
import { DepositInput, ReviewDecisionInput, type DepositResult } from '../domain/deposit';
import { DomainError, validationError } from '../domain/errors';
import { formatAmount, parseHumanAmount } from '../domain/money';
import { assetCode, describeIssues, issueField, uuid } from '../domain/schemas';
import { findAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import { findDepositByReference } from '../db/queries/deposits';
import { toBalance } from './balances';
import type { SagaState } from '../workflows/saga';
import { depositFiat, openAccount } from '../workflows';
import { querySagaStatus, sendDepositDecision } from './sagas';

/** A deposit as a person types it: the amount is a human decimal ("250.00"). */
export const DepositRequest = z
  .object({
    accountId: uuid,
    asset: assetCode,
    amount: z.string({ error: 'amount must be a decimal string such as "10.50"' }),
    bankReference: z.string({ error: 'bankReference must be a string' }),
    senderName: z.string({ error: 'senderName must be a string' }),
    reviewTimeoutSeconds: z.number().int().positive().optional(),
  })
  .strict();
export type DepositRequest = z.infer<typeof DepositRequest>;

export const OpenAccountRequest = z
  .object({
    owner: z.string().trim().min(1, 'owner must not be empty').max(200, 'owner must be at most 200 characters'),
    asset: assetCode,
    accountId: uuid.optional(),
  })
  .strict();
export type OpenAccountRequest = z.infer<typeof OpenAccountRequest>;

export interface Balance extends AccountView {
  scale: number;
  /** Human decimals with the asset's scale. */
  balanceDisplay: string;
  availableDisplay: string;
}

/** One deposit workflow per bank reference (trimmed, case kept: see `bankReference` in domain/schemas). */
export const depositWorkflowId = (bankReference: string): string => `deposit-${bankReference.trim()}`;

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw validationError(`invalid ${what}: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  }
  return parsed.data;
}

/**
 * The thin typed client: writes go through Temporal workflows; reads (balances,
 * asset scales) go to PostgreSQL, the system of record.
 */
export class TxmgrClient {
  constructor(
    readonly temporal: Client,
    readonly pool: Pool,
    readonly taskQueue: string,
  ) {}

  async assetScale(asset: string): Promise<number> {
    const scale = await findAssetScale(this.pool, asset);
    if (scale === undefined) throw validationError(`asset: unknown asset "${asset}"`, { field: 'asset' });
    return scale;
  }

  async openAccount(request: OpenAccountRequest): Promise<AccountView> {
    const r = parseOrThrow(OpenAccountRequest, request, 'account');
    await this.assetScale(r.asset);
    const accountId = r.accountId ?? randomUUID();
    return this.temporal.workflow.execute(openAccount, {
      taskQueue: this.taskQueue,
      workflowId: `account-${accountId}`,
      args: [{ accountId, asset: r.asset, owner: r.owner }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
  }

  /** Converts and checks a human request; throws ValidationError before anything is started. */
  async prepareDeposit(request: DepositRequest): Promise<DepositInput> {
    const r = parseOrThrow(DepositRequest, request, 'deposit');
    const scale = await this.assetScale(r.asset);
    const amount = parseHumanAmount(r.amount, scale).toString();
    const input = parseOrThrow(DepositInput, { ...r, amount }, 'deposit');
    const account = await findAccount(this.pool, input.accountId);
    if (!account) throw validationError(`accountId: account ${input.accountId} does not exist`, { field: 'accountId' });
    if (account.asset !== input.asset) {
      throw validationError(`asset: account ${input.accountId} holds ${account.asset}, not ${input.asset}`, { field: 'asset' });
    }
    return input;
  }

  /** Starts (or joins) the deposit saga for this bank reference; one workflow per reference. */
  async startDeposit(request: DepositRequest): Promise<{ workflowId: string; started: boolean }> {
    const input = await this.prepareDeposit(request);
    const workflowId = depositWorkflowId(input.bankReference);
    try {
      await this.temporal.workflow.start(depositFiat, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      });
      return { workflowId, started: true };
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      // Attach only to the same request: the running (or finished) workflow's own input is the
      // reference, since its deposit row may not be recorded yet.
      await this.checkSameAsWorkflowInput(workflowId, input);
      await this.checkSameDeposit(input);
      return { workflowId, started: false };
    }
  }

  /** Runs a deposit to its end. The same bank reference again returns the first deposit's outcome. */
  async depositFiat(request: DepositRequest): Promise<DepositResult> {
    const { workflowId } = await this.startDeposit(request);
    return this.temporal.workflow.getHandle<typeof depositFiat>(workflowId).result();
  }

  // async: a bad decision is a rejected promise like every other client error, not a synchronous throw.
  async approveDeposit(bankReference: string, decision: { reviewer: string; reason?: string }): Promise<void> {
    const d = parseOrThrow(ReviewDecisionInput, decision, 'review decision');
    return sendDepositDecision(this.temporal, this.pool, depositWorkflowId(bankReference), bankReference, 'approve', d);
  }

  async rejectDeposit(bankReference: string, decision: { reviewer: string; reason?: string }): Promise<void> {
    const d = parseOrThrow(ReviewDecisionInput, decision, 'review decision');
    return sendDepositDecision(this.temporal, this.pool, depositWorkflowId(bankReference), bankReference, 'reject', d);
  }

  /** A saga's state; NoWorkerError (not "Failed to query Workflow") when no worker polls its queue. */
  sagaStatus(workflowId: string): Promise<SagaState> {
    return querySagaStatus(this.temporal, workflowId);
  }

  async getBalance(accountId: string): Promise<Balance> {
    const id = parseOrThrow(uuid, accountId, 'account id');
    const row = await findAccount(this.pool, id);
    if (!row) throw new DomainError('NotFound', `account ${id} does not exist`);
    const scale = await this.assetScale(row.asset);
    return toBalance(row, scale);
  }

  /** The input the workflow bound to this reference was started with; undefined when unreadable. */
  private async workflowInput(workflowId: string): Promise<DepositInput | undefined> {
    const { history } = await this.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: this.temporal.options.namespace,
      execution: { workflowId },
      maximumPageSize: 1,
    });
    const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
    if (!payloads?.length) return undefined;
    const first = await decodeFromPayloadsAtIndex<unknown>(this.temporal.options.loadedDataConverter, 0, payloads);
    const parsed = DepositInput.safeParse(first);
    return parsed.success ? parsed.data : undefined;
  }

  private async checkSameAsWorkflowInput(workflowId: string, input: DepositInput): Promise<void> {
    const first = await this.workflowInput(workflowId);
    if (!first) return;
    const differs = (['accountId', 'asset', 'amount', 'senderName'] as const).filter((f) => first[f] !== input[f]);
    if (differs.length > 0) {
      const amount = `${formatAmount(BigInt(first.amount), await this.assetScale(first.asset))} ${first.asset}`;
      throw new DomainError(
        'IdempotencyConflict',
        `bank reference ${input.bankReference} is already being deposited by workflow ${workflowId} with a different ${differs.join(', ')} ` +
          `(${amount} to account ${first.accountId} from "${first.senderName}")`,
        { bankReference: input.bankReference, fields: differs },
      );
    }
  }

  /** A reused bank reference must describe the same deposit, or it is an IdempotencyConflict. */
  private async checkSameDeposit(input: DepositInput): Promise<void> {
    const existing = await findDepositByReference(this.pool, input.bankReference);
    if (!existing) return; // the first run has not recorded it yet; its own checks will tell
    if (existing.account_id !== input.accountId || existing.asset !== input.asset || existing.amount !== input.amount) {
      throw new DomainError(
        'IdempotencyConflict',
        `bank reference ${input.bankReference} was already used for ${existing.amount} ${existing.asset} to account ${existing.account_id}`,
      );
    }
  }
}
