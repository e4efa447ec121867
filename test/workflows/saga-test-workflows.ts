import { ActivityCancellationType, proxyActivities, sleep, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../src/activities';
import { DOMAIN_ERROR_TYPES } from '../../src/domain/errors';
import { Saga } from '../../src/workflows/saga';
import type { SagaTestActivities } from './saga-test-activities';

// Test-only workflows on the real Saga helper. Retry policies are short so the tests are fast.
export { sagaStatusQuery, retryCompensationSignal } from '../../src/workflows/saga';

const FAST: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '50 milliseconds',
    backoffCoefficient: 1,
    maximumAttempts: 3,
    nonRetryableErrorTypes: [...DOMAIN_ERROR_TYPES, 'DatabaseRejected'],
  },
};

const probe = proxyActivities<SagaTestActivities>(FAST);
// A step with an effect must not be abandoned on cancellation: with the default TRY_CANCEL the
// workflow stops waiting at once and its compensation can run before the step's effect lands.
const probeWaitingOnCancel = proxyActivities<SagaTestActivities>({
  ...FAST,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});
const ledger = proxyActivities<Activities>(FAST);

/** A step with the probe's compensation registered before it (`undo: false` registers none). */
function probeStep(saga: Saga, name: string, o: { fail?: boolean; undo?: boolean } = {}): Promise<string> {
  return saga.step(
    name,
    () => probe.sagaTestStep({ name, fail: o.fail }),
    o.undo === false ? undefined : { name: `undo-${name}`, run: (reason) => probe.sagaTestUndo({ name, reason }) },
  );
}

export interface StepsInput {
  /** The step that fails (non-retryably, after taking effect). */
  failAt?: string;
}

/** validate (no compensation) → a → b → c → notify (no compensation). */
export async function sagaThreeSteps(input: StepsInput): Promise<string[]> {
  const saga = new Saga('test-steps');
  return saga.run(async () => {
    const done: string[] = [];
    done.push(await probeStep(saga, 'validate', { undo: false, fail: input.failAt === 'validate' }));
    for (const name of ['a', 'b', 'c']) done.push(await probeStep(saga, name, { fail: input.failAt === name }));
    done.push(await probeStep(saga, 'notify', { undo: false, fail: input.failAt === 'notify' }));
    return done;
  });
}

/** Step a, then a long wait (a step whose compensation is registered): cancel it to see compensation. */
export async function sagaWaitsLong(): Promise<void> {
  const saga = new Saga('test-wait');
  await saga.run(async () => {
    await probeStep(saga, 'a');
    await saga.step('wait', () => sleep('1 day'), {
      name: 'undo-wait',
      run: (reason) => probe.sagaTestUndo({ name: 'wait', reason }),
    });
  });
}

/** Step a, then a step whose activity is in flight when the test cancels, then step c. */
export async function sagaCancelledInFlight(): Promise<void> {
  const saga = new Saga('test-in-flight');
  await saga.run(async () => {
    await probeStep(saga, 'a');
    await saga.step('slow', () => probeWaitingOnCancel.sagaTestGatedStep({ name: 'slow' }), {
      name: 'undo-slow',
      run: (reason) => probe.sagaTestUndo({ name: 'slow', reason }),
    });
    await probeStep(saga, 'c');
  });
}

export interface ReserveInput {
  debitAccountId: string;
  creditAccountId: string;
  asset: string;
  amount: string;
  /** Fail after the hold is placed; otherwise capture it all. */
  failAfterReserve?: boolean;
}

/**
 * The trade/withdrawal shape on the real ledger: reserve → … → capture. The inverse is
 * registered before the reserve and fences the capture too (a capture that landed although
 * its step failed is refunded); once the capture succeeded nothing is undone.
 */
export async function sagaReserveAndCapture(input: ReserveInput): Promise<{ holdId: string; transferId: string }> {
  const saga = new Saga('test-reserve');
  const workflowId = workflowInfo().workflowId;
  const holdKey = `${workflowId}:reserve`;
  const captureKey = `${workflowId}:capture`;
  const { debitAccountId, creditAccountId, asset, amount } = input;
  return saga.run(async () => {
    const hold = await saga.step(
      'reserve',
      () => ledger.placeHold({ idempotencyKey: holdKey, debitAccountId, creditAccountId, asset, amount }),
      { name: 'releaseHold', run: () => probe.sagaTestReleaseOrRefund({ holdKey, captureKey, workflowId }) },
    );
    if (input.failAfterReserve) await probeStep(saga, 'after-reserve', { undo: false, fail: true });
    const capture = await saga.step('capture', () =>
      ledger.captureHold({ idempotencyKey: captureKey, holdId: hold.holdId, amount }),
    );
    saga.pointOfNoReturn();
    return { holdId: hold.holdId, transferId: capture.transferId };
  });
}

/** One ledger transfer as a saga step, for the activity's failures seen through Temporal. */
export async function sagaTransfer(input: Parameters<Activities['transfer']>[0]): Promise<string> {
  const saga = new Saga('test-transfer');
  return saga.run(async () => (await saga.step('transfer', () => ledger.transfer(input))).transferId);
}
