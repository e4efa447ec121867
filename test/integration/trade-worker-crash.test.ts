import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { startTrade, type TradeRequest } from '../../src/client/trades';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { findOrderByClientId } from '../../src/db/queries/orders';
import type { executeTrade } from '../../src/workflows';
import { count } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { stackEnv, startWorkerProcess } from './cli-process';
import { applyTestConfig, balanceOf, BTC, installCommitPause, trader, tradeMarketsTx, USD, type Trader } from './trade-fixtures';

/**
 * A worker process killed (SIGKILL) while it matches an order: the order is matched and
 * settled exactly once, by the next worker, whether the kill lands before the match's
 * transaction commits or after it commits and before Temporal hears of it.
 */
const ctx = useTestContext();
const siphons: string[] = [];

afterAll(async () => {
  for (const id of siphons) {
    await ctx.temporal.workflow
      .getHandle(id)
      .terminate('trade crash tests done')
      .catch(() => undefined);
  }
});

afterEach(async () => {
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
});

const MATCH_SESSION = 'txmgr-op:placeAndMatchOrder';

/** Sessions of `application_name` waiting on a lock. */
const waitingOnLock = (applicationName: string) =>
  count(ctx.pool, `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`, [applicationName]);

const order = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'>): TradeRequest => ({
  owner: t.owner,
  market: 'BTC-USD',
  clientOrderId: `crash-${randomUUID().slice(0, 8)}`,
  ...r,
});

/** A transaction of the test's own holding a row lock, until `end`. */
async function holdRowLock(sql: string, params: unknown[]): Promise<{ end(): Promise<void> }> {
  const c: PoolClient = await ctx.pool.connect();
  await c.query('BEGIN');
  await c.query(sql, params);
  return {
    async end() {
      await c.query('ROLLBACK');
      c.release();
    },
  };
}

/**
 * Two sellers rest 1 BTC at 100.00 and 101.00 (on a worker process); a buyer's IOC for 2 BTC
 * at 101.00 then reaches the second maker's hold, which the test holds locked: the match is
 * stopped half way, inside its transaction, with the first fill already written.
 */
async function matchStoppedHalfWay(tq: string) {
  const worker = await startWorkerProcess(stackEnv(ctx.databaseUrl, tq));
  const siphon = `config-siphon-trade-crash-${randomUUID().slice(0, 8)}`;
  siphons.push(siphon);
  await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
  const sellers = [await trader(ctx.pool, { BTC: BTC(1), USD: 0n }), await trader(ctx.pool, { BTC: BTC(1), USD: 0n })];
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  const makers: string[] = [];
  const holds: string[] = [];
  for (const [i, s] of sellers.entries()) {
    const r = order(s, { side: 'sell', quantity: '1', price: `${100 + i}.00` });
    makers.push((await startTrade(ctx.client(tq), r)).workflowId);
    await eventually(async () => (await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))?.status === 'open');
    holds.push((await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))!.hold_id);
  }
  const blocker = await holdRowLock('SELECT 1 FROM holds WHERE id = $1 FOR UPDATE', [holds[1]]);
  const takerRequest = order(buyer, { side: 'buy', quantity: '2', price: '101.00', tif: 'IOC' });
  const taker = await startTrade(ctx.client(tq), takerRequest);
  await eventually(async () => (await waitingOnLock(MATCH_SESSION)) === 1, 60_000);
  return { worker, sellers, buyer, makers, blocker, taker, takerRequest };
}

const result = (workflowId: string) => ctx.temporal.workflow.getHandle<typeof executeTrade>(workflowId).result();

/** Exactly one settlement: two fills, the makers' prices, each fee once, every hold closed. */
async function expectSettledOnce(s: Awaited<ReturnType<typeof matchStoppedHalfWay>>): Promise<void> {
  const final = await result(s.taker.workflowId);
  expect(final).toMatchObject({ status: 'filled', filled: BTC(2).toString() });
  for (const m of s.makers) expect(await result(m)).toMatchObject({ status: 'filled' });
  expect(await count(ctx.pool, 'SELECT 1 FROM fills WHERE taker_order_id = $1', [final.orderId])).toBe(2);
  expect(await count(ctx.pool, 'SELECT 1 FROM transfers WHERE workflow_id = $1', [s.taker.workflowId])).toBeGreaterThan(0);
  // 100.00 + 101.00 and the taker fee of 20 bps on each fill (0.20 + 0.20), once.
  expect(await balanceOf(ctx.pool, s.buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 20_100n - 40n, pending: 0n });
  expect(await balanceOf(ctx.pool, s.buyer.accounts.BTC!)).toEqual({ balance: BTC(2), pending: 0n });
  expect(await balanceOf(ctx.pool, s.sellers[0]!.accounts.USD!)).toEqual({ balance: 10_000n - 10n, pending: 0n });
  expect(await balanceOf(ctx.pool, s.sellers[1]!.accounts.USD!)).toEqual({ balance: 10_100n - 10n, pending: 0n });
  expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE status = 'open'`)).toBe(0);
}

describe('a trade worker killed while matching', () => {
  test('killed inside the match transaction: nothing of it commits; the next worker matches and settles once', async () => {
    const tq = ctx.taskQueue();
    const s = await matchStoppedHalfWay(tq);
    await s.worker.kill();
    await s.blocker.end();
    // The dead worker's session ends without a COMMIT: its half-written match is rolled back.
    await eventually(
      async () => (await count(ctx.pool, 'SELECT 1 FROM pg_stat_activity WHERE application_name = $1', [MATCH_SESSION])) === 0,
    );
    expect(await findOrderByClientId(ctx.pool, s.buyer.owner, s.takerRequest.clientOrderId!)).toBeUndefined();
    expect(await count(ctx.pool, 'SELECT 1 FROM fills')).toBe(0);

    const next = await startWorkerProcess(stackEnv(ctx.databaseUrl, tq));
    try {
      await expectSettledOnce(s);
    } finally {
      await next.stop();
    }
    const { rows } = await ctx.pool.query<{ attempt: number }>(
      `SELECT attempt FROM transaction_metrics WHERE workflow_id = $1 AND operation = 'placeAndMatchOrder' AND success`,
      [s.taker.workflowId],
    );
    // The killed attempt left no row; a later attempt (Temporal's retry after the timeout) committed.
    expect(rows.map((r) => r.attempt >= 2)).toEqual([true]);
  }, 240_000);

  test('killed after the match committed, before Temporal heard: the retry finds the match and moves nothing again', async () => {
    const tq = ctx.taskQueue();
    const commitPause = await installCommitPause(ctx.pool);
    const s = await matchStoppedHalfWay(tq);
    // Stop the worker right after the match's COMMIT, before Temporal hears of it.
    const afterCommit = await commitPause.pause();
    await s.blocker.end();
    await eventually(
      async () => (await findOrderByClientId(ctx.pool, s.buyer.owner, s.takerRequest.clientOrderId!))?.status === 'filled',
      60_000,
    );
    const transfers = await count(ctx.pool, 'SELECT 1 FROM transfers');
    await s.worker.kill();
    await afterCommit.end();

    const next = await startWorkerProcess(stackEnv(ctx.databaseUrl, tq));
    try {
      await expectSettledOnce(s);
    } finally {
      await next.stop();
    }
    // The retry found the first attempt's match: not one transfer more.
    expect(await count(ctx.pool, 'SELECT 1 FROM transfers')).toBe(transfers);
    const { rows } = await ctx.pool.query<{ attempt: number }>(
      `SELECT max(attempt) AS attempt FROM transaction_metrics WHERE workflow_id = $1 AND operation = 'placeAndMatchOrder' AND success`,
      [s.taker.workflowId],
    );
    expect(rows[0]!.attempt).toBeGreaterThanOrEqual(2);
  }, 240_000);
});
