import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { approveDepositSignal, depositFiat, rejectDepositSignal } from '../../src/workflows';
import type { SagaState } from '../../src/workflows/saga';
import { balances, count, openUserAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';

const ctx = useTestContext();
const ref = () => `ADV-${randomUUID().slice(0, 12)}`;
const ENDED: SagaState['status'][] = ['COMPLETED', 'COMPENSATED', 'FAILED', 'COMPENSATION_FAILED'];

/** Waits until the saga ended or parked, and returns its state. */
async function sagaEnd(workflowId: string): Promise<SagaState> {
  let state: SagaState | undefined;
  await eventually(async () => {
    state = await ctx.temporal.workflow.getHandle(workflowId).query<SagaState>('sagaStatus');
    return ENDED.includes(state.status);
  }, 60_000);
  return state as SagaState;
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('deposit saga under hostile input', () => {
  test('a sender name holding NUL is a ValidationError at the client: nothing started, nothing written', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const err = await errorOf(
      ctx.client(tq).startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '10.00',
        bankReference: reference,
        senderName: 'Ann\u0000Payer',
      }),
    );
    expect(err).toMatchObject({ type: 'ValidationError', message: expect.stringContaining('senderName') });
    expect(await count(ctx.pool, 'SELECT 1 FROM deposits WHERE bank_reference = $1', [reference])).toBe(0);
  });

  test('a raw start with a NUL in the sender name fails validation; it never parks in COMPENSATION_FAILED', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const workflowId = `deposit-${reference}`;
    await ctx.withWorker(tq, async () => {
      const handle = await ctx.temporal.workflow.start(depositFiat, {
        taskQueue: tq,
        workflowId,
        args: [{ accountId: account, asset: 'USD', amount: '1000', bankReference: reference, senderName: 'Ann\u0000Payer' }],
      });
      const state = await sagaEnd(workflowId);
      expect(state).toMatchObject({ status: 'FAILED', stepsDone: [] });
      const err = await errorOf(handle.result());
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
      expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'ValidationError' });
    });
    expect(await count(ctx.pool, 'SELECT 1 FROM deposits WHERE bank_reference = $1', [reference])).toBe(0);
    await ctx.expectInvariants();
  });

  test('a reviewer reason holding NUL is refused by the client, and a raw one still rejects the deposit cleanly', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const client = ctx.client(tq);
    const reference = ref();
    const workflowId = `deposit-${reference}`;
    await ctx.withWorker(tq, async () => {
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: reference,
        senderName: 'Big Payer',
      });
      await eventually(async () => (await client.sagaStatus(workflowId)).stepsDone.includes('screen'));
      const refused = await errorOf(client.rejectDeposit(reference, { reviewer: 'olga', reason: 'forged\u0000papers' }));
      expect(refused).toMatchObject({ type: 'ValidationError', message: expect.stringContaining('reason') });
      // A raw signal skips the client: the saga must still end COMPENSATED, not parked.
      await ctx.temporal.workflow
        .getHandle(workflowId)
        .signal(rejectDepositSignal, { reviewer: 'ol\u0000ga', reason: `forged\u0000papers ${'x'.repeat(100_000)}` });
      const state = await sagaEnd(workflowId);
      expect(state.status).toBe('COMPENSATED');
    });
    const { rows } = await ctx.pool.query('SELECT status, reason FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toHaveLength(1);
    expect(rows[0].status).toBe('REJECTED');
    expect(rows[0].reason).toContain('forgedpapers');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
    await ctx.expectInvariants();
  });
});

describe('payload limits of a deposit in review', () => {
  test('a raw reject signal near the 2 MB payload limit still ends the saga COMPENSATED, reason capped', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const client = ctx.client(tq);
    const reference = ref();
    const workflowId = `deposit-${reference}`;
    await ctx.withWorker(tq, async () => {
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: reference,
        senderName: 'Big Payer',
      });
      await eventually(async () => (await client.sagaStatus(workflowId)).stepsDone.includes('screen'));
      const handle = ctx.temporal.workflow.getHandle(workflowId);
      await handle.signal(rejectDepositSignal, { reviewer: 'olga', reason: 'y'.repeat(1_900_000) });
      const state = await sagaEnd(workflowId);
      expect(state.status).toBe('COMPENSATED');
      expect(state.failure?.length).toBeLessThan(10_000);
    });
    const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toEqual([{ status: 'REJECTED' }]);
    await ctx.expectInvariants();
  });
});

describe('a second run of a finished deposit workflow id (raw start, default reuse policy)', () => {
  test.each(['review timeout', 'cancel'])(
    'a rerun ending in %s never reverses the credit the first run completed',
    async (how) => {
      const tq = ctx.taskQueue();
      const account = await openUserAccount(ctx.pool);
      const client = ctx.client(tq);
      const reference = ref();
      const workflowId = `deposit-${reference}`;
      const input = await client.prepareDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: reference,
        senderName: 'Big Payer',
      });
      await ctx.withWorker(tq, async () => {
        const first = await ctx.temporal.workflow.start(depositFiat, { taskQueue: tq, workflowId, args: [input] });
        await eventually(async () => (await client.sagaStatus(workflowId)).stepsDone.includes('screen'));
        await first.signal(approveDepositSignal, { reviewer: 'olga' });
        expect((await first.result()).status).toBe('CREDITED');
        const second = await ctx.temporal.workflow.start(depositFiat, {
          taskQueue: tq,
          workflowId,
          args: [{ ...input, reviewTimeoutSeconds: 1 }],
        });
        if (how === 'cancel') await second.cancel();
        await second.result().catch(() => undefined);
      });
      const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
      expect(rows).toEqual([{ status: 'CREDITED' }]);
      expect((await balances(ctx.pool, account)).balance).toBe(2_000_000n);
      await ctx.expectInvariants();
    },
  );
});

describe('a cancel at every step of a deposit', () => {
  type Acts = ReturnType<typeof createActivities>;
  const cases: [step: string, activity: keyof Acts, amount: string, outcome: 'REJECTED' | 'CREDITED'][] = [
    ['validate', 'validateDeposit', '10.00', 'REJECTED'],
    ['record', 'recordDeposit', '10.00', 'REJECTED'],
    ['screen', 'screenDeposit', '10.00', 'REJECTED'],
    ['approve', 'markDepositApproved', '20000.00', 'REJECTED'],
    ['credit', 'creditDeposit', '10.00', 'CREDITED'],
  ];

  test.each(cases)(
    'a cancel while %s runs ends with the right outcome, no money moved twice, invariants clean',
    async (_step, activity, amount, outcome) => {
      const tq = ctx.taskQueue();
      const account = await openUserAccount(ctx.pool);
      const reference = ref();
      const workflowId = `deposit-${reference}`;
      const real = createActivities({ pool: ctx.pool, logger: ctx.logger });
      let started = false;
      let open!: () => void;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const gated = async (i: unknown) => {
        started = true;
        await opened;
        return (real[activity] as (x: unknown) => Promise<unknown>)(i);
      };
      const saga = await ctx.withWorker(
        tq,
        async () => {
          await ctx
            .client(tq)
            .startDeposit({ accountId: account, asset: 'USD', amount, bankReference: reference, senderName: 'Cancel Payer' });
          const handle = ctx.temporal.workflow.getHandle(workflowId);
          if (activity === 'markDepositApproved') {
            await eventually(async () => (await ctx.client(tq).sagaStatus(workflowId)).stepsDone.includes('screen'));
            await handle.signal(approveDepositSignal, { reviewer: 'olga' });
          }
          await eventually(async () => started);
          await handle.cancel();
          try {
            await eventually(async () => {
              const events = (await handle.fetchHistory()).events ?? [];
              const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
              return requested >= 0 && events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes);
            });
          } finally {
            open();
          }
          await handle.result().catch(() => undefined);
          return ctx.client(tq).sagaStatus(workflowId);
        },
        { extraActivities: { [activity]: gated } },
      );
      const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
      expect(rows).toEqual([{ status: outcome }]);
      expect((await balances(ctx.pool, account)).balance).toBe(outcome === 'CREDITED' ? BigInt(amount.replace('.', '')) : 0n);
      expect(saga.status).toBe(outcome === 'CREDITED' ? 'COMPLETED' : 'COMPENSATED');
      await ctx.expectInvariants();
    },
  );
});
