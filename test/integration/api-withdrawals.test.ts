import { randomUUID } from 'node:crypto';
import { balances } from '../helpers/fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { eventually, useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';
import {
  applyWithdrawalRules,
  codes,
  customer,
  expectAllInvariants,
  gatewayFor,
  TOTP_KEY,
  type Customer,
} from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);
const idem = () => randomUUID();

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterEach(async () => {
  await sim.clearFaults();
  await expectAllInvariants(ctx);
});
afterAll(() => sim.dispose());

const withdrawal = (c: Customer, otp: string, extra: Record<string, unknown> = {}) => ({
  workflow_type: 'crypto_withdrawal',
  parameters: { accountId: c.accountId, asset: c.asset, address: c.address, amount: '0.25', otp, pollSeconds: 0.2, ...extra },
});

describe('withdrawals over HTTP', () => {
  let api: ApiUnderTest;
  let key: string;
  let tq: string;
  beforeAll(async () => {
    tq = ctx.taskQueue();
    api = await startTestApi(ctx, tq, { maxWaitSeconds: 60 }, { totpKey: TOTP_KEY });
    key = await api.key(['execute', 'read']);
  });
  afterAll(async () => api?.close());

  const run = <T>(fn: () => Promise<T>) => ctx.withWorker(tq, fn, { chain: gatewayFor(sim), totpKey: TOTP_KEY });
  const post = (path: string, body?: unknown) => api.call('POST', path, { key, idempotencyKey: idem(), body });
  const status = async (workflowId: string) => (await api.call('GET', `status/${workflowId}`, { key })).body;

  test('a withdrawal waited for: held, broadcast, confirmed, captured; amounts in human decimals beside minor units', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const withdrawalId = randomUUID();
    await run(async () => {
      const r = await post('execute-workflow?wait=true', withdrawal(c, otp, { withdrawalId }));
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        workflowId: `withdrawal-${withdrawalId}`,
        workflowType: 'crypto_withdrawal',
        started: true,
      });
      expect(r.body.outcome).toMatchObject({
        status: 'COMPLETED',
        result: { status: 'COMPLETED', amount: '0.25000000', amountMinor: '25000000', fee: '0.00005000', feeMinor: '5000' },
      });
      expect(await status(`withdrawal-${withdrawalId}`)).toMatchObject({
        kind: 'withdrawal',
        state: 'COMPLETED',
        saga: { stepsDone: ['validate', 'security', 'hold', 'broadcast', 'confirm', 'capture'], compensationsRun: [] },
        detail: { phase: 'done' },
      });
      // The same withdrawal id under a new Idempotency-Key starts nothing (its code was good once).
      const twice = await post('execute-workflow', withdrawal(c, otp, { withdrawalId }));
      expect(twice.status).toBe(409);
      expect(twice.body.error).toMatchObject({ type: 'IdempotencyConflict', field: 'withdrawalId' });
    });
    expect((await balances(ctx.pool, c.accountId)).balance).toBe(500_000_000n - 25_005_000n);
  });

  test('cancel before the broadcast releases the hold; the saga shows its compensation', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    // Hold the per-account limit lock, so the saga waits in its hold step.
    const blocker = await ctx.pool.connect();
    try {
      await run(async () => {
        await blocker.query('BEGIN');
        await blocker.query("SELECT pg_advisory_xact_lock(hashtextextended('withdrawal-limit:' || $1 || ':' || $2, 0))", [
          c.accountId,
          'BTC',
        ]);
        const started = await post('execute-workflow', withdrawal(c, otp));
        expect(started.status).toBe(202);
        const workflowId: string = started.body.workflowId;
        const withdrawalId = workflowId.replace(/^withdrawal-/, '');
        await eventually(async () => (await status(workflowId)).saga?.stepsDone.includes('security'));
        const cancelled = await post(`withdrawals/${withdrawalId}/cancel`, { reason: 'changed my mind' });
        expect(cancelled.status).toBe(202);
        expect(cancelled.body).toMatchObject({
          withdrawalId,
          cancelled: true,
          reason: 'cancelled before broadcast: changed my mind',
          statusUrl: `/api/v1/transactions/status/${workflowId}`,
          outcome: null,
        });
        await blocker.query('COMMIT');
        await eventually(async () => (await status(workflowId)).outcome !== null);
        expect(await status(workflowId)).toMatchObject({
          state: 'COMPENSATED',
          saga: { status: 'COMPENSATED', compensationsRun: ['releaseWithdrawal'] },
          outcome: { status: 'FAILED', error: { type: 'WithdrawalCancelled' } },
        });
      });
    } finally {
      blocker.release();
    }
    expect(await sim.sent()).toEqual(expect.not.arrayContaining([expect.objectContaining({ address: c.address })]));
    expect(await balances(ctx.pool, c.accountId)).toMatchObject({ balance: 500_000_000n, debitsPending: 0n });
  });

  test('cancel after the broadcast is refused with the reason; once finished, with its status; unknown is 404', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    await sim.fault({ kind: 'slow', address: c.address, factor: 4 });
    await run(async () => {
      const started = await post('execute-workflow', withdrawal(c, otp));
      const workflowId: string = started.body.workflowId;
      const withdrawalId = workflowId.replace(/^withdrawal-/, '');
      await eventually(async () => (await status(workflowId)).detail?.phase === 'confirming');
      const refused = await post(`withdrawals/${withdrawalId}/cancel`);
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ type: 'InvalidState', field: 'withdrawalId' });
      expect(refused.body.error.message).toMatch(/already broadcast .* so it completes/);
      await eventually(async () => (await status(workflowId)).outcome !== null, 60_000);
      const late = await post(`withdrawals/${withdrawalId}/cancel`, { reason: 'too late' });
      expect(late.status).toBe(409);
      expect(late.body.error.message).toMatch(/is already COMPLETED; nothing left to cancel/);
    });
    const missing = await post(`withdrawals/${randomUUID()}/cancel`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ type: 'NotFound', field: 'withdrawalId' });
  });
});
