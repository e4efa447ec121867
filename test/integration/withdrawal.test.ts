import { randomUUID } from 'node:crypto';
import {
  cancelWithdrawal,
  getWithdrawal,
  startWithdrawal,
  withdrawalProgress,
  withdrawCrypto,
} from '../../src/client/withdrawals';
import { withdrawCrypto as withdrawWorkflow } from '../../src/workflows';
import { createLogger } from '../../src/logger';
import { acceptedTimeStep } from '../../src/security/totp';
import { balances, count, houseAccount } from '../helpers/fixtures';
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
} from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);
const POLL = 0.2;

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterEach(async () => {
  await sim.clearFaults();
  await expectAllInvariants(ctx);
});
afterAll(() => sim.dispose());

const run = <T>(fn: (tq: string) => Promise<T>, extra = {}) => {
  const tq = ctx.taskQueue();
  return ctx.withWorker(tq, () => fn(tq), { chain: gatewayFor(sim), totpKey: TOTP_KEY, ...extra });
};

describe('crypto withdrawal saga', () => {
  test('a withdrawal is held, broadcast once, confirmed and captured to the chain and fee accounts', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const chainBefore = await balances(ctx.pool, await houseAccount(ctx.pool, 'BTC', 'external_chain'));
    const feesBefore = await balances(ctx.pool, await houseAccount(ctx.pool, 'BTC', 'fees'));
    const result = await run((tq) =>
      withdrawCrypto(
        ctx.client(tq),
        { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.25', otp, pollSeconds: POLL },
        TOTP_KEY,
      ),
    );
    expect(result).toMatchObject({ status: 'COMPLETED', amount: '25000000', fee: '5000', address: c.address });
    expect(result.confirmations).toBeGreaterThanOrEqual(3);
    const user = await balances(ctx.pool, c.accountId);
    expect(user.balance).toBe(500_000_000n - 25_005_000n);
    expect(user.debitsPending).toBe(0n);
    expect((await balances(ctx.pool, await houseAccount(ctx.pool, 'BTC', 'external_chain'))).balance - chainBefore.balance).toBe(
      25_000_000n,
    );
    expect((await balances(ctx.pool, await houseAccount(ctx.pool, 'BTC', 'fees'))).balance - feesBefore.balance).toBe(5_000n);
    const view = await getWithdrawal(ctx.pool, result.withdrawalId);
    expect(view).toMatchObject({ status: 'COMPLETED', amount: '0.25000000', fee: '0.00005000', chainTxId: result.chainTxId });
    const txs = await sim.sent(result.withdrawalId);
    expect(txs).toHaveLength(1);
    expect(txs[0]).toMatchObject({ amount: '25000000', address: c.address, broadcasts: 1 });
    // The one-time code and the TOTP secret never reach workflow history in the clear.
    const history = JSON.stringify(await ctx.temporal.workflow.getHandle(`withdrawal-${result.withdrawalId}`).fetchHistory());
    expect(history).not.toContain(otp);
    expect(history).not.toContain(c.secret);
  });

  test('neither the one-time code nor the TOTP secret reaches the log, accepted, refused or replayed', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const lines: string[] = [];
    const logger = createLogger('trace', 'txmgr', { write: (line: string) => void lines.push(line) });
    const wrong = String((Number(otp) + 500_000) % 1_000_000).padStart(6, '0');
    await run(
      async (tq) => {
        const request = { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.01', otp, pollSeconds: POLL };
        await withdrawCrypto(ctx.client(tq), request, TOTP_KEY);
        expect((await failureOf(withdrawCrypto(ctx.client(tq), request, TOTP_KEY))).type).toBe('SecurityRejected');
        expect((await failureOf(withdrawCrypto(ctx.client(tq), { ...request, otp: wrong }, TOTP_KEY))).type).toBe(
          'SecurityRejected',
        );
      },
      { logger },
    );
    const text = lines.join('') + ((globalThis as { __txmgrLog?: string[] }).__txmgrLog ?? []).join('');
    expect(lines.length).toBeGreaterThan(0);
    for (const code of [otp, wrong]) expect(text).not.toMatch(new RegExp(`(?<![0-9])${code}(?![0-9])`));
    expect(text).not.toContain(c.secret);
  });

  test('a one-time code is accepted once: the same code again is refused, nothing held or sent', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const request = { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.01', otp, pollSeconds: POLL };
    await run(async (tq) => {
      await withdrawCrypto(ctx.client(tq), request, TOTP_KEY);
      const replay = randomUUID();
      const f = await failureOf(withdrawCrypto(ctx.client(tq), { ...request, withdrawalId: replay }, TOTP_KEY));
      expect(f.type).toBe('SecurityRejected');
      expect(f.message).toMatch(/^otp: .*already used/);
      expect(await getWithdrawal(ctx.pool, replay)).toBeUndefined();
      expect(await sim.sent(replay)).toEqual([]);
    });
    expect((await balances(ctx.pool, c.accountId)).balance).toBe(500_000_000n - 1_005_000n);
  });

  test('concurrent withdrawals never pass the daily limit together', async () => {
    const c = await customer(ctx.pool);
    const three = await codes(c.secret);
    const outcomes = await run((tq) =>
      Promise.allSettled(
        three.map((otp) =>
          withdrawCrypto(
            ctx.client(tq),
            { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.9', otp, pollSeconds: POLL },
            TOTP_KEY,
          ),
        ),
      ),
    );
    const done = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes
      .filter((o) => o.status === 'rejected')
      .map((o) => o.reason as { cause?: { type?: string; message?: string } });
    expect(done).toHaveLength(2);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.cause?.type).toBe('ValidationError');
    expect(refused[0]?.cause?.message).toMatch(/^amount: .*over the daily limit of 2\.00000000 BTC/);
    expect((await balances(ctx.pool, c.accountId)).balance).toBe(500_000_000n - 2n * 90_005_000n);
    expect(await count(ctx.pool, "SELECT 1 FROM withdrawals WHERE account_id = $1 AND status = 'COMPLETED'", [c.accountId])).toBe(
      2,
    );
    expect((await sim.sent()).filter((t) => t.address === c.address)).toHaveLength(2);
  });

  test('cancel before the broadcast releases the hold; nothing is sent', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    // Hold the per-account limit lock, so the saga waits in its hold step.
    const blocker = await ctx.pool.connect();
    try {
      await run(async (tq) => {
        await blocker.query('BEGIN');
        await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended('withdrawal-limit:' || $1 || ':' || $2, 0))", [
          c.accountId,
          'BTC',
        ]);
        const { withdrawalId, workflowId } = await startWithdrawal(
          ctx.client(tq),
          { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: POLL },
          TOTP_KEY,
        );
        await eventually(async () =>
          (await ctx.temporal.workflow.getHandle(workflowId).query<{ stepsDone: string[] }>('sagaStatus')).stepsDone.includes(
            'security',
          ),
        );
        const answer = await cancelWithdrawal(ctx.client(tq), withdrawalId, 'changed my mind');
        expect(answer).toEqual({ cancelled: true, reason: 'cancelled before broadcast: changed my mind' });
        await blocker.query('COMMIT');
        const f = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
        expect(f.type).toBe('WithdrawalCancelled');
        const saga = await ctx.temporal.workflow
          .getHandle(workflowId)
          .query<{ status: string; compensationsRun: string[] }>('sagaStatus');
        expect(saga).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['releaseWithdrawal'] });
        const view = await getWithdrawal(ctx.pool, withdrawalId);
        if (view) expect(view.status).toBe('RELEASED'); // the hold may have landed before the cancel reached it
        expect(await sim.sent(withdrawalId)).toEqual([]);
      });
    } finally {
      blocker.release();
    }
    const b = await balances(ctx.pool, c.accountId);
    expect(b.balance).toBe(500_000_000n);
    expect(b.debitsPending).toBe(0n);
  });

  test('cancel during the security check: nothing is held, nothing is sent', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const step = acceptedTimeStep(c.secret, otp, new Date()) as number;
    // An uncommitted claim of the same time step makes the saga's security check wait.
    const blocker = await ctx.pool.connect();
    try {
      await run(async (tq) => {
        await blocker.query('BEGIN');
        await blocker.query('INSERT INTO totp_used_codes (account_id, time_step, withdrawal_id) VALUES ($1, $2, $3)', [
          c.accountId,
          step,
          randomUUID(),
        ]);
        const { withdrawalId, workflowId } = await startWithdrawal(
          ctx.client(tq),
          { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: POLL },
          TOTP_KEY,
        );
        await eventually(async () => (await ctx.client(tq).sagaStatus(workflowId)).stepsDone.includes('validate'));
        expect((await cancelWithdrawal(ctx.client(tq), withdrawalId, 'not me')).cancelled).toBe(true);
        await blocker.query('ROLLBACK');
        const f = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
        expect(f).toMatchObject({ type: 'WithdrawalCancelled', message: expect.stringMatching(/not me/) });
        expect(await getWithdrawal(ctx.pool, withdrawalId)).toBeUndefined();
        expect(await sim.sent(withdrawalId)).toEqual([]);
      });
    } finally {
      blocker.release();
    }
    const b = await balances(ctx.pool, c.accountId);
    expect(b.balance).toBe(500_000_000n);
    expect(b.debitsPending).toBe(0n);
  });

  test('a cancel racing the broadcast (sent, answer not back yet) is refused, and the withdrawal completes once', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    await sim.fault({ kind: 'timeout', address: c.address, delayMs: 1_000, calls: 1 });
    await run(async (tq) => {
      const { withdrawalId, workflowId } = await startWithdrawal(
        ctx.client(tq),
        { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: POLL },
        TOTP_KEY,
      );
      await eventually(async () => (await sim.sent(withdrawalId)).length === 1);
      const answer = await cancelWithdrawal(ctx.client(tq), withdrawalId, 'too late');
      expect(answer.cancelled).toBe(false);
      expect(answer.reason).toMatch(/already broadcast .* so it completes/);
      const result = await ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result();
      expect(result.status).toBe('COMPLETED');
      expect((await sim.sent(withdrawalId))[0]?.broadcasts).toBe(1);
    });
  });

  test('cancel after the broadcast is refused with a reason, and the withdrawal completes', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    await sim.fault({ kind: 'slow', address: c.address, factor: 4 });
    await run(async (tq) => {
      const { withdrawalId, workflowId } = await startWithdrawal(
        ctx.client(tq),
        { accountId: c.accountId, asset: 'BTC', address: c.address, amount: '0.1', otp, pollSeconds: POLL },
        TOTP_KEY,
      );
      await eventually(async () => (await withdrawalProgress(ctx.client(tq), withdrawalId)).phase === 'confirming');
      const answer = await cancelWithdrawal(ctx.client(tq), withdrawalId);
      expect(answer.cancelled).toBe(false);
      expect(answer.reason).toMatch(/already broadcast .* so it completes/);
      const result = await ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result();
      expect(result.status).toBe('COMPLETED');
      const saga = await ctx.temporal.workflow
        .getHandle(workflowId)
        .query<{ status: string; cancelRequested: boolean }>('sagaStatus');
      expect(saga.status).toBe('COMPLETED');
    });
  });
});
