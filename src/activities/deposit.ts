import { cleanReason } from '../domain/config-text';
import { DomainError, validationError } from '../domain/errors';
import { DepositInput, depositCreditStep, depositReversalStep, type ScreeningOutcome } from '../domain/deposit';
import { stepId } from '../domain/ids';
import { formatAmount } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { postTransfer } from '../db/ledger';
import { findAccount, findHouseAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import { findComplianceSettings, findDeniedName } from '../db/queries/compliance';
import {
  findDepositByIdOrReference,
  insertDeposit,
  insertRejectedDeposit,
  lockDeposit,
  lockDepositByReference,
  markDepositReversed,
  updateDepositStatus,
  type DepositRow,
} from '../db/queries/deposits';
import { hasOutboxEvent, insertOutboxEvent } from '../db/queries/outbox';
import type { PoolClient } from 'pg';
import type { ActivityDeps } from './deps';
import { transactional, type ActivityScope } from './boundary';

/** Who owns a deposit record: its workflow, or a stand-in when an activity is called directly. */
const depositOwner = (scope: ActivityScope, bankReference: string): string => scope.workflowId ?? `direct:${bankReference}`;

/** Review timeout when an asset has no compliance settings row. */
const DEFAULT_REVIEW_TIMEOUT_SECONDS = 86_400;

export interface RecordedDeposit {
  depositId: string;
  status: DepositRow['status'];
  /** True when the bank reference belongs to another workflow's deposit. */
  duplicate: boolean;
  originalWorkflowId: string;
  transferId?: string;
}

const recorded = (row: DepositRow, workflowId: string | undefined): RecordedDeposit => ({
  depositId: row.id,
  status: row.status,
  // A run records before it credits, so a credited row of this workflow id belongs to an
  // earlier run of the same id (a raw restart): that run owns it, this one moves nothing.
  duplicate: row.workflow_id !== workflowId || row.status === 'CREDITED',
  originalWorkflowId: row.workflow_id,
  transferId: row.transfer_id ?? undefined,
});

/** The first field in which a stored deposit and a request for the same reference differ, if any. */
function depositDifference(row: DepositRow, input: DepositInput): string | undefined {
  if (row.bank_reference !== input.bankReference) return 'bank reference';
  if (row.account_id !== input.accountId) return 'account';
  if (row.asset !== input.asset) return 'asset';
  if (row.amount !== input.amount) return 'amount';
  if (row.sender_name !== input.senderName) return 'sender name';
  return undefined;
}

export interface RejectDepositInput {
  bankReference: string;
  reason: string;
  /** The idempotency key of the saga's credit step; default `<workflow id>:credit`. */
  creditKey?: string;
  /** The validated deposit, written as a rejected placeholder if it was not recorded yet. */
  placeholder?: { accountId: string; asset: string; amount: string; senderName: string };
}

/** Moves a credited deposit's money back — only the credit made with `creditKey`, never a notified one — and rejects it; false when notified. */
async function reverseOwnCredit(
  tx: PoolClient,
  deposit: DepositRow,
  creditKey: string,
  reason: string,
  workflowId: string | undefined,
): Promise<boolean> {
  // Notified means a run of this workflow id passed its point of no return and completed:
  // a later run of the same id (a raw restart) must never undo that credit.
  if (await hasOutboxEvent(tx, 'deposit.credited', deposit.id)) return false;
  if (deposit.transfer_id !== stepId(creditKey)) {
    throw new DomainError(
      'IdempotencyConflict',
      `deposit ${deposit.id} was credited by transfer ${deposit.transfer_id}, not by this saga's credit; an operator must decide`,
      { depositId: deposit.id, transferId: deposit.transfer_id },
    );
  }
  const bank = await findHouseAccount(tx, deposit.asset, 'external_bank');
  if (!bank) throw new Error(`no external_bank house account for ${deposit.asset}`);
  await postTransfer(tx, {
    id: stepId(`${creditKey}:reversal`),
    debitAccountId: deposit.account_id,
    creditAccountId: bank.id,
    asset: deposit.asset,
    amount: BigInt(deposit.amount),
    workflowId,
    step: depositReversalStep(deposit.bank_reference),
  });
  await markDepositReversed(tx, deposit.id, cleanReason(`credit reversed: ${reason}`));
  return true;
}

export function createDepositActivities(deps: ActivityDeps) {
  return {
    /** Checks the request against the schema and the database; writes nothing. */
    validateDeposit: transactional(deps, 'validateDeposit', async (raw: unknown, tx): Promise<DepositInput> => {
      const parsed = DepositInput.safeParse(raw);
      if (!parsed.success) {
        throw validationError(`invalid deposit: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
      }
      const input = parsed.data;
      if ((await findAssetScale(tx, input.asset)) === undefined) {
        throw validationError(`asset: unknown asset "${input.asset}"`, { field: 'asset' });
      }
      const account = await findAccount(tx, input.accountId);
      if (!account) throw validationError(`accountId: account ${input.accountId} does not exist`, { field: 'accountId' });
      if (account.kind !== 'user')
        throw validationError(`accountId: ${input.accountId} is not a user account`, { field: 'accountId' });
      if (account.asset !== input.asset) {
        throw validationError(`asset: account ${input.accountId} holds ${account.asset}, not ${input.asset}`, { field: 'asset' });
      }
      return input;
    }),

    /** Records the deposit once per bank reference; a second workflow gets the first one's row back. */
    recordDeposit: transactional(deps, 'recordDeposit', async (raw: DepositInput, tx, scope): Promise<RecordedDeposit> => {
      // Canonical again here: a workflow validated before ids were normalised passes its input as it was then.
      const parsed = DepositInput.safeParse(raw);
      if (!parsed.success) {
        throw validationError(`invalid deposit: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
      }
      const input = parsed.data;
      const workflowId = depositOwner(scope, input.bankReference);
      const id = stepId(`${workflowId}:record`);
      const inserted = await insertDeposit(tx, {
        id,
        bankReference: input.bankReference,
        accountId: input.accountId,
        asset: input.asset,
        amount: BigInt(input.amount),
        senderName: input.senderName,
        workflowId,
      });
      if (inserted) return recorded(inserted, workflowId);
      // Conflict on the reference (another request or this one's earlier attempt) or on the id
      // (an overlapping attempt of this very step): either way the row that won is the answer.
      const existing = await findDepositByIdOrReference(tx, id, input.bankReference);
      if (!existing) throw new Error(`deposit ${input.bankReference} vanished`);
      const differs = depositDifference(existing, input);
      if (differs) {
        const scale = await findAssetScale(tx, existing.asset);
        const amount = scale === undefined ? `${existing.amount} minor units of` : formatAmount(BigInt(existing.amount), scale);
        throw new DomainError(
          'IdempotencyConflict',
          `bank reference ${input.bankReference} was already used for a different deposit (${amount} ${existing.asset} to account ${existing.account_id} from "${existing.sender_name}"): the ${differs} differs`,
          { bankReference: input.bankReference, field: differs },
        );
      }
      return recorded(existing, workflowId);
    }),

    /** Screens against the deny list and the review threshold from config. */
    screenDeposit: transactional(deps, 'screenDeposit', async (depositId: string, tx): Promise<ScreeningOutcome> => {
      const deposit = await lockDeposit(tx, depositId);
      if (!deposit) throw new DomainError('NotFound', `deposit ${depositId} does not exist`);
      const denied = await findDeniedName(tx, deposit.sender_name);
      if (denied) return { decision: 'deny', reason: `sender is on the deny list (${denied.reason})` };
      const settings = await findComplianceSettings(tx, deposit.asset);
      const timeout = settings?.review_timeout_seconds ?? DEFAULT_REVIEW_TIMEOUT_SECONDS;
      // Once sent to review, a deposit stays there: a retried screen (its first answer lost)
      // must not clear it because the threshold moved in between.
      if (deposit.status === 'IN_REVIEW') {
        return { decision: 'review', reason: deposit.reason ?? 'already in review', reviewTimeoutSeconds: timeout };
      }
      if (settings && BigInt(deposit.amount) > BigInt(settings.review_threshold)) {
        const reason = `amount ${deposit.amount} is above the review threshold ${settings.review_threshold}`;
        if (deposit.status === 'RECORDED') await updateDepositStatus(tx, deposit.id, 'IN_REVIEW', reason);
        return { decision: 'review', reason, reviewTimeoutSeconds: timeout };
      }
      return { decision: 'clear' };
    }),

    markDepositApproved: transactional(deps, 'markDepositApproved', async (i: { depositId: string; reason: string }, tx) => {
      const deposit = await lockDeposit(tx, i.depositId);
      if (deposit && (deposit.status === 'RECORDED' || deposit.status === 'IN_REVIEW')) {
        await updateDepositStatus(tx, deposit.id, 'APPROVED', cleanReason(i.reason));
      }
    }),

    /**
     * The saga's one inverse of record and credit, fenced in one transaction on the locked
     * deposit: reverses this saga's credit if it landed, otherwise leaves the deposit — or,
     * if none was recorded yet, a placeholder holding its id and reference — REJECTED, a
     * state no late record or credit attempt can pass.
     */
    rejectDepositRecord: transactional(deps, 'rejectDepositRecord', async (i: RejectDepositInput, tx, scope) => {
      const owner = depositOwner(scope, i.bankReference);
      // The reason may carry a raw signal's text (NUL, any size): a compensation must always be storable.
      const reason = cleanReason(i.reason);
      let deposit = await lockDepositByReference(tx, i.bankReference);
      if (!deposit && i.placeholder) {
        const placed = await insertRejectedDeposit(tx, {
          id: stepId(`${owner}:record`),
          bankReference: i.bankReference,
          accountId: i.placeholder.accountId,
          asset: i.placeholder.asset,
          amount: BigInt(i.placeholder.amount),
          senderName: cleanReason(i.placeholder.senderName, 200),
          workflowId: owner,
          reason: cleanReason(`rejected before it was recorded: ${reason}`),
        });
        if (placed) return { changed: true, reversed: false };
        deposit = await lockDepositByReference(tx, i.bankReference); // a record attempt committed meanwhile
      }
      // Another workflow's deposit is not this saga's to undo.
      if (!deposit || deposit.workflow_id !== owner || deposit.status === 'REJECTED') return { changed: false, reversed: false };
      if (deposit.status === 'CREDITED') {
        const reversed = await reverseOwnCredit(tx, deposit, i.creditKey ?? `${owner}:credit`, reason, scope.workflowId);
        return { changed: reversed, reversed };
      }
      await updateDepositStatus(tx, deposit.id, 'REJECTED', reason);
      return { changed: true, reversed: false };
    }),

    /** Credits the user from the external bank account and marks the deposit credited, atomically. */
    creditDeposit: transactional(deps, 'creditDeposit', async (i: { depositId: string; idempotencyKey: string }, tx, scope) => {
      const deposit = await lockDeposit(tx, i.depositId);
      if (!deposit) throw new DomainError('NotFound', `deposit ${i.depositId} does not exist`);
      const transferId = stepId(i.idempotencyKey);
      if (deposit.status === 'CREDITED') {
        if (deposit.transfer_id === transferId) return { transferId };
        throw new DomainError(
          'IdempotencyConflict',
          `deposit ${deposit.id} was already credited by transfer ${deposit.transfer_id}`,
        );
      }
      // Only a screened-clear (RECORDED) or approved deposit may be credited. An attempt that
      // arrives late — after the saga gave up and rejected it, or reversed it — moves nothing.
      if (deposit.status !== 'RECORDED' && deposit.status !== 'APPROVED') {
        throw new DomainError(
          'InvalidState',
          `deposit ${deposit.id} is ${deposit.status}${deposit.reason ? ` (${deposit.reason})` : ''} and cannot be credited`,
          { depositId: deposit.id, status: deposit.status },
        );
      }
      const bank = await findHouseAccount(tx, deposit.asset, 'external_bank');
      if (!bank) throw new Error(`no external_bank house account for ${deposit.asset}`);
      const { row } = await postTransfer(tx, {
        id: transferId,
        debitAccountId: bank.id,
        creditAccountId: deposit.account_id,
        asset: deposit.asset,
        amount: BigInt(deposit.amount),
        workflowId: scope.workflowId,
        // Labelled by bank reference, so the invariant counts credits per reference, whoever made them.
        step: depositCreditStep(deposit.bank_reference),
      });
      await updateDepositStatus(tx, deposit.id, 'CREDITED', null, row.id);
      return { transferId: row.id };
    }),

    /**
     * Compensation of creditDeposit in histories from before the fenced inverse: reverses
     * this saga's credit if it landed, else rejects the deposit so a late credit moves nothing.
     */
    reverseDepositCredit: transactional(
      deps,
      'reverseDepositCredit',
      async (i: { depositId: string; idempotencyKey: string; reason: string }, tx, scope) => {
        const deposit = await lockDeposit(tx, i.depositId);
        if (!deposit || deposit.status === 'REJECTED') return { reversed: false };
        const reason = cleanReason(i.reason);
        if (deposit.status !== 'CREDITED') {
          await updateDepositStatus(tx, deposit.id, 'REJECTED', reason);
          return { reversed: false };
        }
        return { reversed: await reverseOwnCredit(tx, deposit, i.idempotencyKey, reason, scope.workflowId) };
      },
    ),

    /** Tells the rest of the business, through the outbox, exactly once per deposit. */
    notifyDeposit: transactional(deps, 'notifyDeposit', async (i: { depositId: string; idempotencyKey: string }, tx) => {
      const deposit = await lockDeposit(tx, i.depositId);
      if (!deposit) throw new DomainError('NotFound', `deposit ${i.depositId} does not exist`);
      const written = await insertOutboxEvent(tx, {
        eventId: stepId(i.idempotencyKey),
        topic: 'deposit.credited',
        aggregateId: deposit.id,
        payload: {
          depositId: deposit.id,
          bankReference: deposit.bank_reference,
          accountId: deposit.account_id,
          asset: deposit.asset,
          amount: deposit.amount,
          status: deposit.status,
        },
      });
      return { written };
    }),
  };
}
