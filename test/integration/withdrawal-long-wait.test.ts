import { cancelWithdrawal, startWithdrawal, withdrawalProgress } from '../../src/client/withdrawals';
import type { withdrawCrypto as withdrawWorkflow } from '../../src/workflows';
import { balances } from '../helpers/fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { applyWithdrawalRules, codes, customer, expectAllInvariants, gatewayFor, TOTP_KEY } from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterEach(async () => {
  await sim.clearFaults();
  await expectAllInvariants(ctx);
});
afterAll(() => sim.dispose());

describe('a long wait for confirmations', () => {
  test('a slow chain continues the saga in new runs: each run stays short, the withdrawal completes once', async () => {
    const c = await customer(ctx.pool);
    // Held unconfirmed (1,000 blocks a confirmation) until the saga has gone on in a new run:
    // how many checks one run makes must not depend on how fast this machine is.
    await sim.fault({ kind: 'slow', address: c.address, factor: 1000 });
    const [, otp] = await codes(c.secret);
    const tq = ctx.taskQueue();
    const pollsPerRun = 4;
    await ctx.withWorker(
      tq,
      async () => {
        const { withdrawalId, workflowId } = await startWithdrawal(
          ctx.client(tq),
          { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: 0.2, pollsPerRun },
          TOTP_KEY,
        );
        const handle = ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId);
        const firstRunId = (await handle.describe()).runId;
        // A continued run is past the broadcast: a cancel there is answered, not obeyed.
        await eventually(async () => (await handle.describe()).runId !== firstRunId, 90_000);
        // 3 confirmations at 10 blocks each: still many more checks than one run may make.
        await sim.setSlowFactor(withdrawalId, 10);
        const answer = await cancelWithdrawal(ctx.client(tq), withdrawalId, 'too slow');
        expect(answer).toMatchObject({ cancelled: false });
        expect(answer.reason).toMatch(/already broadcast \([0-9a-f]{64}\)/);
        expect((await withdrawalProgress(ctx.client(tq), withdrawalId)).phase).toBe('confirming');

        const result = await handle.result();
        expect(result).toMatchObject({ status: 'COMPLETED', withdrawalId, amount: '10000000', fee: '5000' });
        expect(result.confirmations).toBeGreaterThanOrEqual(3);

        const first = await ctx.temporal.workflow.getHandle(workflowId, firstRunId).fetchHistory();
        const events = first.events ?? [];
        expect(events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes).toBeTruthy();
        // Validation, security, hold, broadcast and four checks: bounded by pollsPerRun, not by the chain.
        expect(events.length).toBeLessThan(100);

        const last = await handle.describe();
        expect(last.runId).not.toBe(firstRunId);
        const saga = await ctx.client(tq).sagaStatus(workflowId);
        expect(saga).toMatchObject({
          status: 'COMPLETED',
          stepsDone: ['validate', 'security', 'hold', 'broadcast', 'confirm', 'capture'],
          pointOfNoReturn: 'broadcast',
        });
        const sent = await sim.sent(withdrawalId);
        expect(sent).toHaveLength(1);
        expect(sent[0]?.broadcasts).toBe(1);
      },
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    const b = await balances(ctx.pool, c.accountId);
    expect(b.balance).toBe(500_000_000n - 10_005_000n);
    expect(b.debitsPending).toBe(0n);
  }, 240_000);

  test('a workflow cancel during a long wait is answered: the next run takes over and the withdrawal completes', async () => {
    const c = await customer(ctx.pool);
    // Held unconfirmed until the next run has taken over, then 10 blocks a confirmation.
    await sim.fault({ kind: 'slow', address: c.address, factor: 1000 });
    const [, otp] = await codes(c.secret);
    const tq = ctx.taskQueue();
    await ctx.withWorker(
      tq,
      async () => {
        const { withdrawalId, workflowId } = await startWithdrawal(
          ctx.client(tq),
          // 25 checks a run: time enough for the cancel to reach the first run.
          { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: 0.2, pollsPerRun: 25 },
          TOTP_KEY,
        );
        const handle = ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId);
        const firstRunId = (await handle.describe()).runId;
        await eventually(async () => (await withdrawalProgress(ctx.client(tq), withdrawalId)).phase === 'confirming');
        await ctx.temporal.workflow.getHandle(workflowId, firstRunId).cancel();
        await eventually(async () => (await handle.describe()).runId !== firstRunId, 90_000);
        await sim.setSlowFactor(withdrawalId, 10);
        expect((await handle.result()).status).toBe('COMPLETED');
        expect((await handle.describe()).runId).not.toBe(firstRunId);
        expect(await sim.sent(withdrawalId)).toHaveLength(1);
      },
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    const b = await balances(ctx.pool, c.accountId);
    expect(b.balance).toBe(500_000_000n - 10_005_000n);
    expect(b.debitsPending).toBe(0n);
  });
});
