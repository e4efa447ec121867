/**
 * Records the crypto withdrawal saga's histories for the replay tests, one per path,
 * against the chain simulator as its own process. Not a test: run it with
 * `npm run record-histories` after a deliberate, versioned workflow change. Every path
 * asserts its outcome, so a recording of the wrong path fails instead of being saved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { cancelWithdrawal, startWithdrawal, withdrawalProgress, type WithdrawalRequest } from '../../src/client/withdrawals';
import type { withdrawCrypto } from '../../src/workflows';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { applyWithdrawalRules, codes, customer, failureOf, gatewayFor, TOTP_KEY } from '../integration/withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);
const OUT = path.join(__dirname, 'histories');

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterAll(() => sim.dispose());

async function save(name: string, workflowId: string, runId?: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(workflowId, runId).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

type Fault = Parameters<ChainSimProcess['fault']>[0];

test('record withdrawal histories', async () => {
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  const result = (id: string) => ctx.temporal.workflow.getHandle<typeof withdrawCrypto>(`withdrawal-${id}`).result();
  /** A new customer, an optional fault on its address, then the saga started. */
  const start = async (change: Partial<WithdrawalRequest> = {}, fault?: Omit<Fault, 'address'>) => {
    const c = await customer(ctx.pool);
    if (fault) await sim.fault({ ...fault, address: c.address });
    const [, otp] = await codes(c.secret);
    const request = { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: 0.2, ...change };
    return startWithdrawal(client, request, TOTP_KEY);
  };

  await ctx.withWorker(
    tq,
    async () => {
      const done = await start();
      expect((await result(done.withdrawalId)).status).toBe('COMPLETED');
      await save('withdrawal-completed', done.workflowId);

      const invalid = await start({ amount: '0.00001' });
      expect((await failureOf(result(invalid.withdrawalId))).type).toBe('ValidationError');
      await save('withdrawal-invalid', invalid.workflowId);

      const unknown = await start({ address: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' });
      expect((await failureOf(result(unknown.withdrawalId))).type).toBe('SecurityRejected');
      await save('withdrawal-security-rejected', unknown.workflowId);

      const rejected = await start({}, { kind: 'reject' });
      expect((await failureOf(result(rejected.withdrawalId))).type).toBe('ChainRejected');
      await save('withdrawal-chain-rejected', rejected.workflowId);

      const rebroadcast = await start({}, { kind: 'drop', calls: 1 });
      expect((await result(rebroadcast.withdrawalId)).status).toBe('COMPLETED');
      await save('withdrawal-rebroadcast', rebroadcast.workflowId);

      const dropped = await start({}, { kind: 'drop' });
      expect((await failureOf(result(dropped.withdrawalId))).type).toBe('ChainDropped');
      await save('withdrawal-dropped', dropped.workflowId);

      const reorg = await start({}, { kind: 'reorg', depth: 2, factor: 3 });
      expect((await result(reorg.withdrawalId)).status).toBe('COMPLETED');
      await save('withdrawal-reorg', reorg.workflowId);

      const late = await start({}, { kind: 'slow', factor: 4 });
      await eventually(async () => (await withdrawalProgress(client, late.withdrawalId)).phase === 'confirming');
      expect((await cancelWithdrawal(client, late.withdrawalId)).cancelled).toBe(false);
      expect((await result(late.withdrawalId)).status).toBe('COMPLETED');
      await save('withdrawal-cancel-after-broadcast', late.workflowId);
    },
    { chain: gatewayFor(sim), totpKey: TOTP_KEY },
  );

  const tq2 = ctx.taskQueue();
  const c = await customer(ctx.pool);
  const [, otp] = await codes(c.secret);
  const blocker = await ctx.pool.connect();
  try {
    await ctx.withWorker(
      tq2,
      async () => {
        await blocker.query('BEGIN');
        await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended('withdrawal-limit:' || $1 || ':' || $2, 0))", [
          c.accountId,
          'BTC',
        ]);
        const early = await startWithdrawal(
          ctx.client(tq2),
          { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: 0.2 },
          TOTP_KEY,
        );
        await eventually(async () => (await ctx.client(tq2).sagaStatus(early.workflowId)).stepsDone.includes('security'));
        expect((await cancelWithdrawal(ctx.client(tq2), early.withdrawalId)).cancelled).toBe(true);
        await blocker.query('COMMIT');
        expect((await failureOf(result(early.withdrawalId))).type).toBe('WithdrawalCancelled');
        await save('withdrawal-cancel-before-broadcast', early.workflowId);
      },
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
  } finally {
    blocker.release();
  }
});

test('record the continued and the unanswered-broadcast withdrawal histories', async () => {
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  await ctx.withWorker(
    tq,
    async () => {
      // A slow chain: the wait goes on in new runs; the first and the last run are both on file.
      const slow = await customer(ctx.pool);
      await sim.fault({ kind: 'slow', factor: 12, address: slow.address });
      const [, otp] = await codes(slow.secret);
      const continued = await startWithdrawal(
        client,
        { accountId: slow.accountId, asset: 'BTC', address: slow.address, amount: '0.1', otp, pollSeconds: 0.2, pollsPerRun: 2 },
        TOTP_KEY,
      );
      const handle = ctx.temporal.workflow.getHandle<typeof withdrawCrypto>(continued.workflowId);
      const firstRunId = (await handle.describe()).runId;
      expect((await handle.result()).status).toBe('COMPLETED');
      const lastRunId = (await handle.describe()).runId;
      expect(lastRunId).not.toBe(firstRunId);
      await save('withdrawal-continued-first-run', continued.workflowId, firstRunId);
      await save('withdrawal-continued-last-run', continued.workflowId, lastRunId);

      // The node takes the broadcast and goes away past the deadline: fenced, found on the chain, completed.
      const late = await customer(ctx.pool);
      await sim.fault({ kind: 'timeout', address: late.address, delayMs: 5_000, calls: 1 });
      const [, code] = await codes(late.secret);
      const unanswered = await startWithdrawal(
        client,
        {
          accountId: late.accountId,
          asset: 'BTC',
          address: late.address,
          amount: '0.1',
          otp: code,
          pollSeconds: 0.2,
          deadlineSeconds: 8,
        },
        TOTP_KEY,
      );
      await eventually(async () => (await sim.sent(unanswered.withdrawalId)).length === 1);
      await sim.stop();
      const h = ctx.temporal.workflow.getHandle(unanswered.workflowId);
      await eventually(async () => {
        const pending = (await h.describe()).raw.pendingActivities ?? [];
        return pending.some((a) => a.activityType?.name === 'releaseWithdrawal' && (a.attempt ?? 0) >= 2);
      }, 60_000);
      await sim.start();
      expect((await h.result()).status).toBe('COMPLETED');
      await save('withdrawal-broadcast-unanswered', unanswered.workflowId);
    },
    { chain: gatewayFor(sim), totpKey: TOTP_KEY },
  );
});
