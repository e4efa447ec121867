/**
 * The deposit saga with one deliberate, unversioned change: after screening it
 * notifies before it credits. Replaying recorded histories against it must fail
 * with a nondeterminism error — proof that the replay tests catch such a change.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { DepositInput, DepositResult } from '../../../src/domain/deposit';
import { STEP_OPTIONS } from '../../../src/workflows/retry-policies';
import { Saga } from '../../../src/workflows/saga';

const steps = proxyActivities<Activities>(STEP_OPTIONS);

export async function depositFiat(input: DepositInput): Promise<DepositResult> {
  const saga = new Saga('deposit');
  const workflowId = workflowInfo().workflowId;
  return saga.run(async () => {
    const valid = await saga.step('validate', () => steps.validateDeposit(input));
    const deposit = await saga.step('record', () => steps.recordDeposit(valid));
    await saga.step('screen', () => steps.screenDeposit(deposit.depositId));
    await saga.step('notify', () =>
      steps.notifyDeposit({ depositId: deposit.depositId, idempotencyKey: `${workflowId}:notify` }),
    );
    const credit = await saga.step('credit', () =>
      steps.creditDeposit({ depositId: deposit.depositId, idempotencyKey: `${workflowId}:credit` }),
    );
    return { ...valid, depositId: deposit.depositId, status: 'CREDITED', transferId: credit.transferId };
  });
}
