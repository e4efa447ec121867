import {
  ApplicationFailure,
  condition,
  defineSignal,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { DEPOSIT_DEADLINE_HOURS, type DepositInput, type DepositResult, type ReviewDecision } from '../domain/deposit';
import { ACCOUNT_ID } from '../temporal/search-attributes';
import { COMPENSATION_OPTIONS, MUST_COMPLETE_OPTIONS } from './retry-policies';
import { Saga } from './saga';

export const approveDepositSignal = defineSignal<[Omit<ReviewDecision, 'approved'>]>('approveDeposit');
export const rejectDepositSignal = defineSignal<[Omit<ReviewDecision, 'approved'>]>('rejectDeposit');

/** One fenced inverse for record and credit, and a point of no return after the credit. */
export const DEPOSIT_FENCES_PATCH = 'deposit-fenced-inverse-and-point-of-no-return';

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);
const mustComplete = proxyActivities<Activities>(MUST_COMPLETE_OPTIONS);

const MAX_REVIEWER = 200;
const MAX_DECISION_REASON = 1000;

const rejected = (message: string) => ApplicationFailure.create({ type: 'ComplianceRejected', message, nonRetryable: true });

/**
 * Fiat deposit: validate → record (unique by bank reference) → compliance screen
 * (maybe an operator's review, with a timeout that rejects) → credit from the
 * external bank account → notify through the outbox. Transient faults are retried
 * until the deposit's business deadline; after the credit nothing is undone.
 */
export async function depositFiat(input: DepositInput): Promise<DepositResult> {
  const deadlineSeconds = typeof input?.deadlineSeconds === 'number' ? input.deadlineSeconds : DEPOSIT_DEADLINE_HOURS * 3600;
  const saga = new Saga('deposit', { deadlineMs: deadlineSeconds * 1000 });
  const steps = saga.stepActivities<Activities>();
  const workflowId = workflowInfo().workflowId;
  let decision: ReviewDecision | undefined;
  const decide = (approved: boolean) => (d: Omit<ReviewDecision, 'approved'>) => {
    // The first decision stands; a malformed one (no reviewer) is ignored. A raw signal is
    // capped to the client's limits: a reason near 2 MB would make the saga's failure too large to record.
    if (decision === undefined && typeof d?.reviewer === 'string' && d.reviewer.trim() !== '') {
      const reason = typeof d.reason === 'string' ? d.reason.slice(0, MAX_DECISION_REASON) : undefined;
      decision = { approved, reviewer: d.reviewer.trim().slice(0, MAX_REVIEWER), reason };
    }
  };
  setHandler(approveDepositSignal, decide(true));
  setHandler(rejectDepositSignal, decide(false));
  if (typeof input?.accountId === 'string') upsertSearchAttributes([{ key: ACCOUNT_ID, value: input.accountId }]);

  return saga.run(async () => {
    const valid = await saga.step('validate', () => steps.validateDeposit(input));
    const creditKey = `${workflowId}:credit`;
    const deposit = await saga.step('record', () => steps.recordDeposit(valid), {
      // Fences both record and credit: in one transaction it reverses this saga's credit if
      // one landed, or leaves the deposit (or a placeholder for it) REJECTED, which no late
      // record or credit attempt can pass.
      name: 'rejectDepositRecord',
      run: (reason) =>
        undo.rejectDepositRecord({
          bankReference: valid.bankReference,
          reason,
          creditKey,
          placeholder: { accountId: valid.accountId, asset: valid.asset, amount: valid.amount, senderName: valid.senderName },
        }),
    });
    const result: DepositResult = {
      depositId: deposit.depositId,
      bankReference: valid.bankReference,
      accountId: valid.accountId,
      asset: valid.asset,
      amount: valid.amount,
      status: 'CREDITED',
    };
    if (deposit.duplicate) {
      // Another workflow owns this bank reference: report it, move nothing.
      return { ...result, status: 'DUPLICATE', originalWorkflowId: deposit.originalWorkflowId, transferId: deposit.transferId };
    }

    const screening = await saga.step('screen', () => steps.screenDeposit(deposit.depositId));
    if (screening.decision === 'deny') throw rejected(`deposit rejected by compliance: ${screening.reason}`);
    if (screening.decision === 'review') {
      const timeoutSeconds = valid.reviewTimeoutSeconds ?? screening.reviewTimeoutSeconds;
      const decided = await saga.outsideDeadline(() => condition(() => decision !== undefined, `${timeoutSeconds} seconds`));
      if (!decided || !decision) throw rejected(`deposit rejected: no review decision within ${timeoutSeconds}s`);
      if (!decision.approved) {
        throw rejected(`deposit rejected by ${decision.reviewer}${decision.reason ? `: ${decision.reason}` : ''}`);
      }
      const approvedBy = decision.reviewer;
      await saga.step('approve', () =>
        steps.markDepositApproved({ depositId: deposit.depositId, reason: `approved by ${approvedBy}` }),
      );
    }

    const fenced = patched(DEPOSIT_FENCES_PATCH);
    const credit = await saga.step(
      'credit',
      () => steps.creditDeposit({ depositId: deposit.depositId, idempotencyKey: creditKey }),
      fenced
        ? undefined // rejectDepositRecord reverses a credit that landed
        : {
            name: 'reverseDepositCredit',
            run: (reason) => undo.reverseDepositCredit({ depositId: deposit.depositId, idempotencyKey: creditKey, reason }),
          },
    );
    // The user may spend the credit at once: from here on the deposit is only completed.
    if (fenced) saga.pointOfNoReturn();
    await saga.step('notify', () =>
      mustComplete.notifyDeposit({ depositId: deposit.depositId, idempotencyKey: `${workflowId}:notify` }),
    );
    return { ...result, transferId: credit.transferId };
  });
}
