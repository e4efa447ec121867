import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { holdIdFor } from '../../src/domain/ids';
import { SAGA_STATUS, SAGA_TYPE } from '../../src/temporal/search-attributes';
import { retryCompensationSignal, sagaStatusQuery, type SagaState } from '../../src/workflows/saga';
import { balances, count, houseAccount, openUserAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { createSagaTestActivities, newSagaProbe, type SagaProbe } from '../workflows/saga-test-activities';
import { createSagaLedgerTestActivities } from './saga-ledger-activities';
import type {
  sagaCancelledInFlight,
  sagaReserveAndCapture,
  sagaThreeSteps,
  sagaTransfer,
  sagaWaitsLong,
} from '../workflows/saga-test-workflows';

const ctx = useTestContext({ workflowsPath: require.resolve('../workflows/saga-test-workflows') });

/** Runs `fn` with a fresh worker that also serves the probe's activities. */
async function withSagaWorker<T>(
  probe: SagaProbe,
  fn: (taskQueue: string) => Promise<T>,
  overrides: Record<string, (...args: never[]) => unknown> = {},
): Promise<T> {
  const tq = ctx.taskQueue();
  const extraActivities = {
    ...createSagaTestActivities(probe),
    ...createSagaLedgerTestActivities({ pool: ctx.pool }),
    ...overrides,
  };
  return ctx.withWorker(tq, () => fn(tq), { extraActivities });
}

/** The failure a workflow ended with, as the client sees it. */
async function workflowFailure(p: Promise<unknown>): Promise<WorkflowFailedError> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedSuccess: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  return err as WorkflowFailedError;
}

const status = (handle: WorkflowHandle): Promise<SagaState> => handle.query(sagaStatusQuery);
const statusAttribute = async (handle: WorkflowHandle) => (await handle.describe()).typedSearchAttributes.get(SAGA_STATUS);

describe('saga compensation', () => {
  test('a saga that succeeds runs every step and no compensation', async () => {
    const probe = newSagaProbe();
    const [result, state, attributes] = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{}],
      });
      const r = await handle.result();
      const d = await handle.describe();
      return [r, await status(handle), [d.typedSearchAttributes.get(SAGA_TYPE), d.typedSearchAttributes.get(SAGA_STATUS)]];
    });
    expect(result).toEqual(['validate:done', 'a:done', 'b:done', 'c:done', 'notify:done']);
    expect(state).toMatchObject({ status: 'COMPLETED', stepsDone: ['validate', 'a', 'b', 'c', 'notify'], compensationsRun: [] });
    expect(attributes).toEqual(['test-steps', 'COMPLETED']);
    expect(probe.calls).toEqual(['step:validate', 'step:a', 'step:b', 'step:c', 'step:notify']);
  });

  test('compensations run in reverse, for registered steps only, including the step that failed; the original cause surfaces', async () => {
    const probe = newSagaProbe();
    const [failure, state] = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{ failAt: 'c' }],
      });
      return [await workflowFailure(handle.result()), await status(handle)] as const;
    });
    // c took effect and then failed; its compensation was registered before it ran, so it is undone too.
    expect(probe.calls).toEqual(['step:validate', 'step:a', 'step:b', 'step:c', 'undo:c', 'undo:b', 'undo:a']);
    expect(probe.effects).toEqual(new Set(['validate'])); // validate has no effect to undo
    expect(failure.cause).toBeInstanceOf(ApplicationFailure);
    expect(failure.cause).toMatchObject({ type: 'StepBroke', message: 'step c broke', nonRetryable: true });
    expect(state).toMatchObject({
      status: 'COMPENSATED',
      stepsDone: ['validate', 'a', 'b'],
      compensationsRun: ['undo-c', 'undo-b', 'undo-a'],
      compensationsPending: [],
    });
    expect(state.failure).toContain('step c broke');
    expect(probe.reasons).toEqual([state.failure, state.failure, state.failure]);
  });

  test('a failure before any compensation is registered leaves the saga FAILED with nothing undone', async () => {
    const probe = newSagaProbe();
    const [failure, state] = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{ failAt: 'validate' }],
      });
      return [await workflowFailure(handle.result()), await status(handle)] as const;
    });
    expect(failure.cause).toMatchObject({ type: 'StepBroke', message: 'step validate broke' });
    expect(state).toMatchObject({ status: 'FAILED', stepsDone: [], compensationsRun: [] });
    expect(probe.calls).toEqual(['step:validate']);
  });

  test('a failure after the last compensated step undoes every compensated step', async () => {
    const probe = newSagaProbe();
    const state = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{ failAt: 'notify' }],
      });
      expect((await workflowFailure(handle.result())).cause).toMatchObject({ type: 'StepBroke', message: 'step notify broke' });
      return status(handle);
    });
    expect(state).toMatchObject({
      status: 'COMPENSATED',
      stepsDone: ['validate', 'a', 'b', 'c'],
      compensationsRun: ['undo-c', 'undo-b', 'undo-a'],
    });
  });

  test('a compensation that keeps failing parks the saga in COMPENSATION_FAILED until retryCompensation, then it finishes COMPENSATED', async () => {
    const probe = newSagaProbe();
    probe.brokenUndos.add('b');
    const undoCalls = (name: string) => probe.calls.filter((c) => c === `undo:${name}`).length;
    await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{ failAt: 'c' }],
      });
      await eventually(async () => (await status(handle)).status === 'COMPENSATION_FAILED');
      const parked = await status(handle);
      expect(parked).toMatchObject({ compensationsRun: ['undo-c'], compensationsPending: ['undo-b', 'undo-a'] });
      expect(parked.compensationError).toMatch(/^undo-b: .*undo of b is broken/);
      expect(parked.failure).toContain('step c broke');
      expect(undoCalls('b')).toBe(3); // the compensation's own retry policy ran out first
      expect(undoCalls('a')).toBe(0); // nothing is skipped over
      // Never silently done: the workflow is still running, and the Web UI can find it.
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await statusAttribute(handle)).toBe('COMPENSATION_FAILED');

      // A retry while it is still broken tries again and parks again.
      await handle.signal(retryCompensationSignal);
      await eventually(async () => undoCalls('b') === 6 && (await status(handle)).status === 'COMPENSATION_FAILED');
      expect((await status(handle)).compensationsRun).toEqual(['undo-c']);

      // The operator fixes the cause and asks again.
      probe.brokenUndos.delete('b');
      await handle.signal(retryCompensationSignal);
      const failure = await workflowFailure(handle.result());
      expect(failure.cause).toMatchObject({ type: 'StepBroke', message: 'step c broke' });
      const final = await status(handle);
      expect(final).toMatchObject({
        status: 'COMPENSATED',
        compensationsRun: ['undo-c', 'undo-b', 'undo-a'],
        compensationsPending: [],
      });
      expect(final.compensationError).toBeUndefined();
      expect(await statusAttribute(handle)).toBe('COMPENSATED');
    });
    expect(probe.effects).toEqual(new Set(['validate']));
  });

  test('cancelling a running saga runs its compensations and ends it cancelled', async () => {
    const probe = newSagaProbe();
    const [failure, state, execution] = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaWaitsLong>('sagaWaitsLong', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
      });
      await eventually(async () => (await status(handle)).stepsDone.includes('a'));
      await handle.cancel();
      const f = await workflowFailure(handle.result());
      return [f, await status(handle), (await handle.describe()).status.name] as const;
    });
    expect(failure.cause).toBeInstanceOf(CancelledFailure);
    expect(execution).toBe('CANCELLED');
    expect(state).toMatchObject({ status: 'COMPENSATED', stepsDone: ['a'], compensationsRun: ['undo-wait', 'undo-a'] });
    expect(probe.calls).toEqual(['step:a', 'undo:wait', 'undo:a']);
    expect(probe.effects.size).toBe(0);
  });

  test('cancelling while a step is in flight waits for the step, then compensates it too', async () => {
    const probe = newSagaProbe();
    const [failure, state] = await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaCancelledInFlight>('sagaCancelledInFlight', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
      });
      await eventually(async () => probe.gate.started);
      await handle.cancel();
      probe.gate.open(); // the step takes effect after the cancel request
      return [await workflowFailure(handle.result()), await status(handle)] as const;
    });
    expect(failure.cause).toBeInstanceOf(CancelledFailure);
    // The undo of "slow" ran after its effect, not before: nothing is left behind. Step c never ran
    // (its activity was refused in the cancelled scope) but its compensation was registered first,
    // so it runs too, as a no-op.
    expect(probe.calls).toEqual(['step:a', 'start:slow', 'step:slow', 'undo:c', 'undo:slow', 'undo:a']);
    expect(probe.effects.size).toBe(0);
    expect(state).toMatchObject({
      status: 'COMPENSATED',
      stepsDone: ['a', 'slow'],
      compensationsRun: ['undo-c', 'undo-slow', 'undo-a'],
    });
  });

  test('cancelling a saga parked in COMPENSATION_FAILED does not abandon its compensations', async () => {
    const probe = newSagaProbe();
    probe.brokenUndos.add('a');
    await withSagaWorker(probe, async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaThreeSteps>('sagaThreeSteps', {
        taskQueue,
        workflowId: `saga-${randomUUID()}`,
        args: [{ failAt: 'b' }],
      });
      await eventually(async () => (await status(handle)).status === 'COMPENSATION_FAILED');
      await handle.cancel();
      // Wait until the workflow has processed the cancel request (a workflow task completed after it).
      await eventually(async () => {
        const events = (await handle.fetchHistory()).events ?? [];
        const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
        return requested >= 0 && events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes);
      });
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await status(handle)).toMatchObject({ status: 'COMPENSATION_FAILED', compensationsPending: ['undo-a'] });

      probe.brokenUndos.delete('a');
      await handle.signal(retryCompensationSignal);
      const failure = await workflowFailure(handle.result());
      expect(failure.cause).toMatchObject({ type: 'StepBroke', message: 'step b broke' });
      expect(await status(handle)).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['undo-b', 'undo-a'] });
    });
    expect(probe.effects).toEqual(new Set(['validate']));
  });
});

describe('saga on the real ledger', () => {
  const ledger = () => createActivities({ pool: ctx.pool, logger: ctx.logger });
  async function fundedAccount(amount: bigint): Promise<string> {
    const id = await openUserAccount(ctx.pool);
    await ledger().transfer({
      idempotencyKey: `fund:${randomUUID()}`,
      debitAccountId: await houseAccount(ctx.pool, 'USD', 'external_bank'),
      creditAccountId: id,
      asset: 'USD',
      amount: amount.toString(),
    });
    return id;
  }

  test('reserve then capture: the hold is used up and the money moved once', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const workflowId = `reserve-${randomUUID()}`;
    const result = await withSagaWorker(newSagaProbe(), (taskQueue) =>
      ctx.temporal.workflow.execute<typeof sagaReserveAndCapture>('sagaReserveAndCapture', {
        taskQueue,
        workflowId,
        args: [{ debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '300' }],
      }),
    );
    expect(result.holdId).toBe(holdIdFor(`${workflowId}:reserve`));
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPending: 0n,
      debitsPosted: 300n,
      balance: 700n,
      available: 700n,
    });
    const { rows } = await ctx.pool.query('SELECT status, captured, workflow_id FROM holds WHERE id = $1', [result.holdId]);
    expect(rows).toEqual([{ status: 'captured', captured: '300', workflow_id: workflowId }]);
  });

  test('a capture that lands but reports a failure is refunded by the fenced inverse; nothing stays moved', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const workflowId = `reserve-${randomUUID()}`;
    const real = createActivities({ pool: ctx.pool, logger: ctx.logger });
    // The capture commits, then its reply is lost for good (the step gives up).
    const captureHold = async (i: Parameters<typeof real.captureHold>[0]) => {
      await real.captureHold(i);
      throw ApplicationFailure.create({ type: 'ReplyLost', message: 'capture reply lost', nonRetryable: true });
    };
    const [failure, state] = await withSagaWorker(
      newSagaProbe(),
      async (taskQueue) => {
        const handle = await ctx.temporal.workflow.start<typeof sagaReserveAndCapture>('sagaReserveAndCapture', {
          taskQueue,
          workflowId,
          args: [{ debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '300' }],
        });
        return [await workflowFailure(handle.result()), await status(handle)] as const;
      },
      { captureHold },
    );
    expect(failure.cause).toMatchObject({ type: 'ReplyLost' });
    expect(state).toMatchObject({ status: 'COMPENSATED', stepsDone: ['reserve'], compensationsRun: ['releaseHold'] });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, balance: 1000n, available: 1000n });
  });

  test('a failure after the reserve releases the hold', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const workflowId = `reserve-${randomUUID()}`;
    const [failure, state] = await withSagaWorker(newSagaProbe(), async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaReserveAndCapture>('sagaReserveAndCapture', {
        taskQueue,
        workflowId,
        args: [{ debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '400', failAfterReserve: true }],
      });
      return [await workflowFailure(handle.result()), await status(handle)] as const;
    });
    expect(failure.cause).toMatchObject({ type: 'StepBroke' });
    expect(state).toMatchObject({ status: 'COMPENSATED', stepsDone: ['reserve'], compensationsRun: ['releaseHold'] });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n, available: 1000n });
    const { rows } = await ctx.pool.query('SELECT status, released FROM holds WHERE id = $1', [
      holdIdFor(`${workflowId}:reserve`),
    ]);
    expect(rows).toEqual([{ status: 'released', released: '400' }]);
  });

  test('a reserve refused for InsufficientFunds fails at once, and its compensation is a harmless no-op', async () => {
    const alice = await fundedAccount(100n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const workflowId = `reserve-${randomUUID()}`;
    const [failure, state] = await withSagaWorker(newSagaProbe(), async (taskQueue) => {
      const handle = await ctx.temporal.workflow.start<typeof sagaReserveAndCapture>('sagaReserveAndCapture', {
        taskQueue,
        workflowId,
        args: [{ debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '101' }],
      });
      return [await workflowFailure(handle.result()), await status(handle)] as const;
    });
    expect(failure.cause).toBeInstanceOf(ApplicationFailure);
    expect(failure.cause).toMatchObject({ type: 'InsufficientFunds', nonRetryable: true });
    expect(failure.cause?.message).toMatch(/100 USD minor units available, 101 needed/);
    expect(state).toMatchObject({ status: 'COMPENSATED', stepsDone: [], compensationsRun: ['releaseHold'] });
    expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE workflow_id = $1', [workflowId])).toBe(0);
    // Non-retryable: one try of placeHold, not three.
    const { rows } = await ctx.pool.query(
      'SELECT activity, success, attempt FROM transaction_metrics WHERE workflow_id = $1 ORDER BY id',
      [workflowId],
    );
    expect(rows).toEqual([
      { activity: 'placeHold', success: false, attempt: 1 },
      { activity: 'sagaTestReleaseOrRefund', success: true, attempt: 1 },
    ]);
    expect((await balances(ctx.pool, alice)).available).toBe(100n);
  });

  test('through Temporal, a reused transfer key with other fields is a non-retryable IdempotencyConflict; the same fields return the first transfer', async () => {
    const alice = await fundedAccount(1000n);
    const bob = await openUserAccount(ctx.pool);
    const request = {
      idempotencyKey: `pay:${randomUUID()}`,
      debitAccountId: alice,
      creditAccountId: bob,
      asset: 'USD',
      amount: '10',
    };
    const first = await ledger().transfer(request);
    const conflictId = `transfer-${randomUUID()}`;
    const [failure, again] = await withSagaWorker(newSagaProbe(), async (taskQueue) => {
      const f = await workflowFailure(
        ctx.temporal.workflow.execute<typeof sagaTransfer>('sagaTransfer', {
          taskQueue,
          workflowId: conflictId,
          args: [{ ...request, amount: '11' }],
        }),
      );
      const a = await ctx.temporal.workflow.execute<typeof sagaTransfer>('sagaTransfer', {
        taskQueue,
        workflowId: `transfer-${randomUUID()}`,
        args: [request],
      });
      return [f, a] as const;
    });
    expect(failure.cause).toBeInstanceOf(ApplicationFailure);
    expect(failure.cause).toMatchObject({ type: 'IdempotencyConflict', nonRetryable: true });
    expect(again).toBe(first.transferId);
    expect(await count(ctx.pool, 'SELECT 1 FROM transaction_metrics WHERE workflow_id = $1', [conflictId])).toBe(1);
    expect((await balances(ctx.pool, alice)).balance).toBe(990n);
    expect((await balances(ctx.pool, bob)).balance).toBe(10n);
  });
});
