import { getWithdrawal, startWithdrawal, withdrawalProgress, withdrawCrypto } from '../../src/client/withdrawals';
import type { withdrawCrypto as withdrawWorkflow } from '../../src/workflows';
import { balances } from '../helpers/fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import {
  applyWithdrawalRules,
  codes,
  customer,
  expectAllInvariants,
  failureOf,
  gatewayFor,
  TOTP_KEY,
  type Customer,
} from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);
const POLL = 0.2;
const FUNDS = 500_000_000n;

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterEach(async () => {
  await sim.clearFaults();
  await expectAllInvariants(ctx);
});
afterAll(() => sim.dispose());

const withWorker = <T>(tq: string, fn: () => Promise<T>) => ctx.withWorker(tq, fn, { chain: gatewayFor(sim), totpKey: TOTP_KEY });

async function request(c: Customer, amount = '0.1') {
  const [, otp] = await codes(c.secret);
  return { accountId: c.accountId, asset: 'BTC', address: c.address, amount, otp, pollSeconds: POLL };
}

async function expectReleased(c: Customer, withdrawalId: string): Promise<void> {
  expect((await getWithdrawal(ctx.pool, withdrawalId))?.status).toBe('RELEASED');
  const b = await balances(ctx.pool, c.accountId);
  expect(b.balance).toBe(FUNDS);
  expect(b.debitsPending).toBe(0n);
}

describe('withdrawal against chain faults', () => {
  test('a rejected broadcast releases the hold and fails with ChainRejected', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'reject', address: c.address });
    const tq = ctx.taskQueue();
    await withWorker(tq, async () => {
      const { withdrawalId, workflowId } = await startWithdrawal(ctx.client(tq), await request(c), TOTP_KEY);
      const f = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
      expect(f.type).toBe('ChainRejected');
      expect(f.message).toMatch(/rejected by the node/);
      await expectReleased(c, withdrawalId);
      expect(await sim.sent(withdrawalId)).toEqual([]);
    });
  });

  test('a lost broadcast answer (the node times out) is retried with the same id: one transaction', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'timeout', calls: 1, delayMs: 3_000 });
    const tq = ctx.taskQueue();
    const again = await withWorker(tq, async () => withdrawCrypto(ctx.client(tq), await request(c), TOTP_KEY));
    expect(again.status).toBe('COMPLETED');
    const sent = await sim.sent(again.withdrawalId);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.broadcasts).toBe(1);
  });

  test('the worker stopped between the broadcast and its answer: the next worker finds the one transaction', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'timeout', calls: 1, delayMs: 4_000 });
    const tq = ctx.taskQueue();
    const { withdrawalId, workflowId } = await withWorker(tq, async () => {
      const started = await startWithdrawal(ctx.client(tq), await request(c), TOTP_KEY);
      // The node holds the transaction; its answer has not come back: stop this worker now.
      await eventually(async () => (await sim.sent(started.withdrawalId)).length === 1);
      return started;
    });
    expect((await getWithdrawal(ctx.pool, withdrawalId))?.chainTxId).toBeNull();
    const result = await withWorker(tq, () => ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
    expect(result.status).toBe('COMPLETED');
    const sent = await sim.sent(withdrawalId);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.broadcasts).toBe(1);
    expect((await balances(ctx.pool, c.accountId)).balance).toBe(FUNDS - 10_005_000n);
  });

  test('a transaction dropped once is rebroadcast with the same id and completes', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'drop', address: c.address, calls: 1 });
    const tq = ctx.taskQueue();
    const result = await withWorker(tq, async () => {
      const r = await withdrawCrypto(ctx.client(tq), await request(c), TOTP_KEY);
      expect((await withdrawalProgress(ctx.client(tq), r.withdrawalId)).rebroadcasts).toBe(1);
      return r;
    });
    expect(result.status).toBe('COMPLETED');
    const sent = await sim.sent(result.withdrawalId);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.broadcasts).toBe(2);
  });

  test('a transaction dropped again after the rebroadcast is abandoned, its hold released, with a clear reason', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'drop', address: c.address });
    const tq = ctx.taskQueue();
    await withWorker(tq, async () => {
      const { withdrawalId, workflowId } = await startWithdrawal(ctx.client(tq), await request(c), TOTP_KEY);
      const f = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
      expect(f.type).toBe('ChainDropped');
      expect(f.message).toMatch(/dropped its transaction twice; the hold was released/);
      await expectReleased(c, withdrawalId);
      expect((await sim.sent(withdrawalId))[0]).toMatchObject({ state: 'abandoned', broadcasts: 2 });
      expect((await getWithdrawal(ctx.pool, withdrawalId))?.reason).toMatch(/dropped by the chain twice/);
    });
  });

  test('a reorganisation below the required depth is waited out, and the withdrawal completes once', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'reorg', address: c.address, depth: 2, factor: 3 });
    const tq = ctx.taskQueue();
    const result = await withWorker(tq, async () => withdrawCrypto(ctx.client(tq), await request(c), TOTP_KEY));
    expect(result.status).toBe('COMPLETED');
    expect(result.confirmations).toBeGreaterThanOrEqual(3);
    // The orphaning happened at 2 confirmations, so 3 were counted on the block that mined it again.
    const [tx] = await sim.sent(result.withdrawalId);
    expect(tx).toMatchObject({ reorgs: 1, broadcasts: 1 });
    expect(tx?.confirmations).toBeGreaterThanOrEqual(3);
  });

  test('the simulator restarted mid-confirmation forgets nothing; the withdrawal completes', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'slow', address: c.address, factor: 6 });
    const tq = ctx.taskQueue();
    await withWorker(tq, async () => {
      const { withdrawalId, workflowId } = await startWithdrawal(ctx.client(tq), await request(c), TOTP_KEY);
      await eventually(async () => (await withdrawalProgress(ctx.client(tq), withdrawalId)).phase === 'confirming');
      await sim.stop();
      await new Promise((r) => setTimeout(r, 1_000));
      await sim.start();
      const result = await ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result();
      expect(result.status).toBe('COMPLETED');
      const sent = await sim.sent(withdrawalId);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.broadcasts).toBe(1);
    });
  });

  test('the simulator down past the deadline after it took the broadcast: fenced, found on the chain, completed', async () => {
    const c = await customer(ctx.pool);
    // The node records the transaction and holds back its answer; then it goes away past the saga's deadline.
    await sim.fault({ kind: 'timeout', address: c.address, delayMs: 5_000, calls: 1 });
    const tq = ctx.taskQueue();
    await withWorker(tq, async () => {
      const { withdrawalId, workflowId } = await startWithdrawal(
        ctx.client(tq),
        { ...(await request(c)), deadlineSeconds: 8 },
        TOTP_KEY,
      );
      await eventually(async () => (await sim.sent(withdrawalId)).length === 1);
      await sim.stop();
      const handle = ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId);
      // The deadline passed with the broadcast unanswered: the saga asks the chain to abandon it, and waits for the chain.
      await eventually(async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return pending.some((a) => a.activityType?.name === 'releaseWithdrawal' && (a.attempt ?? 0) >= 2);
      }, 60_000);
      await sim.start();
      // The chain had it: money is leaving, so the saga goes forward instead of parking in COMPENSATION_FAILED.
      await eventually(async () => (await ctx.client(tq).sagaStatus(workflowId)).status !== 'RUNNING', 60_000);
      expect(await ctx.client(tq).sagaStatus(workflowId)).toMatchObject({
        status: 'COMPLETED',
        stepsDone: ['validate', 'security', 'hold', 'broadcast', 'confirm', 'capture'],
        pointOfNoReturn: 'broadcast',
      });
      expect((await handle.result()).status).toBe('COMPLETED');
      expect((await getWithdrawal(ctx.pool, withdrawalId))?.status).toBe('COMPLETED');
      const sent = await sim.sent(withdrawalId);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.state).toBe('confirmed');
      expect((await balances(ctx.pool, c.accountId)).balance).toBe(FUNDS - 10_005_000n);
    });
  });

  test('the simulator down for the whole deadline before the broadcast: DeadlineExceeded, released once the chain answers, nothing sent', async () => {
    const c = await customer(ctx.pool);
    const tq = ctx.taskQueue();
    await sim.stop();
    await withWorker(tq, async () => {
      const { withdrawalId, workflowId } = await startWithdrawal(
        ctx.client(tq),
        { ...(await request(c)), deadlineSeconds: 6 },
        TOTP_KEY,
      );
      const handle = ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId);
      // The release must hear from the chain (abandon) before it frees the hold: it waits, however long.
      await eventually(async () => {
        const pending = (await handle.describe()).raw.pendingActivities ?? [];
        return pending.some((a) => a.activityType?.name === 'releaseWithdrawal' && (a.attempt ?? 0) >= 2);
      }, 60_000);
      await sim.start();
      const f = await failureOf(handle.result());
      expect([f.type, f.message]).toEqual(['DeadlineExceeded', expect.stringMatching(/did not answer/)]);
      await expectReleased(c, withdrawalId);
      expect(await sim.sent(withdrawalId)).toEqual([]);
    });
  });

  test('a node that is busy (HTTP 503) is retried until it answers', async () => {
    const c = await customer(ctx.pool);
    await sim.fault({ kind: 'error', address: c.address, calls: 2 });
    const tq = ctx.taskQueue();
    const result = await withWorker(tq, async () => withdrawCrypto(ctx.client(tq), await request(c), TOTP_KEY));
    expect(result.status).toBe('COMPLETED');
    expect(await sim.sent(result.withdrawalId)).toHaveLength(1);
  });
});
