/**
 * The current deposit saga with one small, unversioned change, for the replay tests:
 * `swap` marks the deposit approved only after crediting it (two steps swapped);
 * `extra` screens the deposit a second time before crediting (one activity added).
 * Replaying recorded histories against either must fail with a nondeterminism error.
 */
import { condition, defineSignal, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { DepositInput, DepositResult } from '../../../src/domain/deposit';
import { COMPENSATION_OPTIONS, MUST_COMPLETE_OPTIONS } from '../../../src/workflows/retry-policies';
import { Saga } from '../../../src/workflows/saga';
import { DEPOSIT_FENCES_PATCH } from '../../../src/workflows/deposit';

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);
const mustComplete = proxyActivities<Activities>(MUST_COMPLETE_OPTIONS);
const approveDepositSignal = defineSignal<[{ reviewer: string }]>('approveDeposit');

export function makeDepositFiat(change: 'swap' | 'extra') {
  return async function depositFiat(input: DepositInput): Promise<DepositResult> {
    const saga = new Saga('deposit');
    const steps = saga.stepActivities<Activities>();
    const workflowId = workflowInfo().workflowId;
    let approvedBy: string | undefined;
    setHandler(approveDepositSignal, (d) => void (approvedBy = d.reviewer));
    return saga.run(async () => {
      const valid = await saga.step('validate', () => steps.validateDeposit(input));
      const creditKey = `${workflowId}:credit`;
      const deposit = await saga.step('record', () => steps.recordDeposit(valid), {
        name: 'rejectDepositRecord',
        run: (reason) => undo.rejectDepositRecord({ bankReference: valid.bankReference, reason, creditKey }),
      });
      const screening = await saga.step('screen', () => steps.screenDeposit(deposit.depositId));
      const review = screening.decision === 'review';
      if (review) await condition(() => approvedBy !== undefined);
      const approve = () => steps.markDepositApproved({ depositId: deposit.depositId, reason: `approved by ${approvedBy}` });
      if (review && change !== 'swap') await saga.step('approve', approve);
      if (change === 'extra') await saga.step('rescreen', () => steps.screenDeposit(deposit.depositId));
      patched(DEPOSIT_FENCES_PATCH);
      const credit = await saga.step('credit', () =>
        steps.creditDeposit({ depositId: deposit.depositId, idempotencyKey: creditKey }),
      );
      if (review && change === 'swap') await saga.step('approve', approve);
      saga.pointOfNoReturn();
      await saga.step('notify', () =>
        mustComplete.notifyDeposit({ depositId: deposit.depositId, idempotencyKey: `${workflowId}:notify` }),
      );
      return { ...valid, depositId: deposit.depositId, status: 'CREDITED', transferId: credit.transferId };
    });
  };
}
