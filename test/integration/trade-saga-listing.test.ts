import { randomUUID } from 'node:crypto';
import { listSagas, type SagaListing } from '../../src/client/sagas';
import { cancelOrder, startTrade, type TradeRequest } from '../../src/client/trades';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { SAGA_TYPE } from '../../src/temporal/search-attributes';
import { executeTrade } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { applyTestConfig, trader, tradeMarketsTx, USD, type Trader } from './trade-fixtures';

/**
 * `txmgr sagas list` and resting orders: a GTC/GTD order rests for as long as it likes, so its
 * saga is not listed as needing attention for being old; a trade saga that is old for
 * another reason still is.
 */
const ctx = useTestContext();
const siphon = `config-siphon-trade-listing-${randomUUID().slice(0, 8)}`;
const HOUR = 3_600_000;

afterAll(async () => {
  await ctx.temporal.workflow
    .getHandle(siphon)
    .terminate('trade listing tests done')
    .catch(() => undefined);
});

const order = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'>): TradeRequest => ({
  owner: t.owner,
  market: 'BTC-USD',
  clientOrderId: `list-${randomUUID().slice(0, 8)}`,
  ...r,
});

test('a resting GTC or GTD order is not listed as needing attention for its age; a stuck trade saga and an overdue GTD are', async () => {
  const tq = ctx.taskQueue();
  const buyer = await trader(ctx.pool, { USD: USD(1000), BTC: 0n });
  await ctx.withWorker(tq, async () => {
    await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
    const expiresAt = new Date(Date.now() + 2 * HOUR);
    const gtc = order(buyer, { side: 'buy', quantity: '1', price: '90.00' });
    const gtd = order(buyer, { side: 'buy', quantity: '1', price: '80.00', tif: 'GTD', expiresAt: expiresAt.toISOString() });
    const started = [await startTrade(ctx.client(tq), gtc), await startTrade(ctx.client(tq), gtd)];
    for (const r of [gtc, gtd]) {
      await eventually(async () => (await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))?.status === 'open');
    }
    // A trade saga nobody serves: it never places its order (started as a trade, so listed as one).
    const stuck = `trade-stuck-${randomUUID()}`;
    await ctx.temporal.workflow.start(executeTrade, {
      taskQueue: `${tq}-unserved`,
      workflowId: stuck,
      args: [{ owner: buyer.owner } as never],
      typedSearchAttributes: [{ key: SAGA_TYPE, value: 'trade' }],
    });

    const listed = async (now: Date, taskQueue: string): Promise<Map<string, SagaListing>> =>
      new Map((await listSagas(ctx.temporal, { taskQueue, kind: 'trade', now, pool: ctx.pool })).map((l) => [l.workflowId, l]));
    const [gtcWf, gtdWf] = started.map((s) => s.workflowId) as [string, string];

    // An hour on: far past a trade's expected 10 minutes, and both orders still rest.
    const hourOn = new Date(Date.now() + HOUR);
    await eventually(async () => (await listed(hourOn, tq)).size === 2);
    const later = await listed(hourOn, tq);
    expect(later.get(gtcWf)).toMatchObject({ executionStatus: 'RUNNING' });
    expect(later.get(gtcWf)?.attention).toBeUndefined();
    expect(later.get(gtdWf)?.attention).toBeUndefined();
    await eventually(async () => (await listed(hourOn, `${tq}-unserved`)).has(stuck));
    expect((await listed(hourOn, `${tq}-unserved`)).get(stuck)?.attention).toMatch(/^running 1 h/);

    // Well past the GTD's expiry, still open: its timer did not close it, so it needs a look.
    const pastExpiry = new Date(expiresAt.getTime() + HOUR);
    const overdue = await listed(pastExpiry, tq);
    expect(overdue.get(gtdWf)?.attention).toBe(`its GTD order expired at ${expiresAt.toISOString()} but is still open`);
    expect(overdue.get(gtcWf)?.attention).toBeUndefined();

    await ctx.temporal.workflow.getHandle(stuck).terminate('test done');
    for (const r of [gtc, gtd]) {
      const row = (await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))!;
      await cancelOrder(ctx.client(tq), row.id, buyer.owner);
    }
    for (const wf of [gtcWf, gtdWf]) await ctx.temporal.workflow.getHandle(wf).result();
  });
});
