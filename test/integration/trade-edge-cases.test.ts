import { randomUUID } from 'node:crypto';
import { cancelOrder, executeTrade as runTrade, startTrade, type TradeRequest } from '../../src/client/trades';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import type { executeTrade } from '../../src/workflows';
import { count } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { balanceOf, BTC, trader, USD, type Trader, useTradeMarkets } from './trade-fixtures';

/** Boundaries of matching: FOK at exactly the liquidity, self-trade across levels, protection at a level, odd ids. */
const ctx = useTestContext();
useTradeMarkets(ctx, 'trade-edges', { noOpenOrders: true });

const order = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'>): TradeRequest => ({
  owner: t.owner,
  market: 'BTC-USD',
  clientOrderId: `edge-${randomUUID().slice(0, 12)}`,
  ...r,
});

async function rest(tq: string, r: TradeRequest): Promise<string> {
  const started = await startTrade(ctx.client(tq), r);
  await eventually(async () => (await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))?.status === 'open');
  return started.workflowId;
}

const result = (workflowId: string) => ctx.temporal.workflow.getHandle<typeof executeTrade>(workflowId).result();

test('FOK one lot beyond the liquidity leaves the book untouched; FOK at exactly the liquidity across two levels fills', async () => {
  const tq = ctx.taskQueue();
  const seller = await trader(ctx.pool, { BTC: BTC(2), USD: 0n });
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  await ctx.withWorker(tq, async () => {
    const makers = [
      await rest(tq, order(seller, { side: 'sell', quantity: '0.7', price: '100.00' })),
      await rest(tq, order(seller, { side: 'sell', quantity: '0.3', price: '100.05' })),
    ];
    const over = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', quantity: '1.0001', price: '100.05', tif: 'FOK' }));
    expect(over).toMatchObject({ status: 'cancelled', filled: '0' });
    expect(await count(ctx.pool, 'SELECT 1 FROM fills')).toBe(0);
    const exact = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', quantity: '1', price: '100.05', tif: 'FOK' }));
    expect(exact).toMatchObject({ status: 'filled', filled: BTC(1).toString() });
    for (const m of makers) expect(await result(m)).toMatchObject({ status: 'filled' });
  });
  // 70.00 + 30.01 (30.015 rounded down for the buyer), taker fees 0.14 + 0.06.
  expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 7000n - 3001n - 14n - 6n, pending: 0n });
});

test('self-trade at several levels: the taker cancels its own resting orders on its way and trades with the others', async () => {
  const tq = ctx.taskQueue();
  const both = await trader(ctx.pool, { BTC: BTC(2), USD: USD(1000) });
  const other = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
  await ctx.withWorker(tq, async () => {
    const own = [
      await rest(tq, order(both, { side: 'sell', quantity: '0.5', price: '100.00' })),
      await rest(tq, order(both, { side: 'sell', quantity: '0.5', price: '100.10' })),
    ];
    const theirs = await rest(tq, order(other, { side: 'sell', quantity: '0.5', price: '100.05' }));
    const taker = await runTrade(ctx.client(tq), order(both, { side: 'buy', quantity: '1', price: '100.10', tif: 'IOC' }));
    expect(taker).toMatchObject({ status: 'cancelled', filled: BTC(0.5).toString() });
    for (const m of own)
      expect(await result(m)).toMatchObject({ status: 'cancelled', closeReason: expect.stringMatching(/self-trade/) });
    expect(await result(theirs)).toMatchObject({ status: 'filled' });
  });
  expect(await balanceOf(ctx.pool, both.accounts.BTC!)).toEqual({ balance: BTC(2.5), pending: 0n });
  expect(await balanceOf(ctx.pool, both.accounts.USD!)).toEqual({ balance: USD(1000) - 5002n - 10n, pending: 0n });
});

test("a match retried after its answer was lost still wakes the taker's own orders it cancelled on its way", async () => {
  const tq = ctx.taskQueue();
  const both = await trader(ctx.pool, { BTC: BTC(1), USD: USD(1000) });
  const other = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
  const real = createActivities({ pool: ctx.pool, logger: ctx.logger });
  let lost = 0;
  // The match commits, then its answer is lost once: the retry finds the order placed and answers from the rows.
  const placeAndMatchOrder = async (p: Parameters<typeof real.placeAndMatchOrder>[0]) => {
    const answer = await real.placeAndMatchOrder(p);
    if (p.side === 'buy' && lost++ === 0) throw ApplicationFailure.retryable('answer lost on the way back', 'LostAnswer');
    return answer;
  };
  await ctx.withWorker(
    tq,
    async () => {
      const own = await rest(tq, order(both, { side: 'sell', quantity: '0.5', price: '100.00' }));
      const theirs = await rest(tq, order(other, { side: 'sell', quantity: '0.5', price: '100.05' }));
      const taker = await runTrade(ctx.client(tq), order(both, { side: 'buy', quantity: '1', price: '100.05', tif: 'IOC' }));
      expect(lost).toBe(2);
      expect(taker).toMatchObject({ status: 'cancelled', filled: BTC(0.5).toString() });
      // Its resting workflow ends with the order, rather than waiting for an expiry that never comes.
      expect(await result(own)).toMatchObject({ status: 'cancelled', closeReason: expect.stringMatching(/self-trade/) });
      expect(await result(theirs)).toMatchObject({ status: 'filled' });
    },
    { extraActivities: { placeAndMatchOrder } },
  );
});

test('a market order whose protection is exactly a level takes that level and nothing beyond', async () => {
  const tq = ctx.taskQueue();
  const seller = await trader(ctx.pool, { BTC: BTC(2), USD: 0n });
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  await ctx.withWorker(tq, async () => {
    const at = await rest(tq, order(seller, { side: 'sell', quantity: '0.5', price: '100.05' }));
    const beyond = await rest(tq, order(seller, { side: 'sell', quantity: '0.5', price: '100.10' }));
    const m = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', type: 'market', quantity: '1', price: '100.05' }));
    expect(m).toMatchObject({ status: 'cancelled', filled: BTC(0.5).toString() });
    expect(await result(at)).toMatchObject({ status: 'filled' });
    const row = await ctx.pool.query<{ id: string }>(`SELECT id FROM orders WHERE workflow_id = $1`, [beyond]);
    await cancelOrder(ctx.client(tq), row.rows[0]!.id, seller.owner);
    expect(await result(beyond)).toMatchObject({ status: 'cancelled', filled: '0' });
  });
});

test('client order ids with NUL, wide or too many characters, and an owner with NUL, are refused naming the field', async () => {
  const t = await trader(ctx.pool, { BTC: 0n, USD: USD(100) });
  const ok = { owner: t.owner, market: 'BTC-USD', side: 'buy' as const, quantity: '0.5', price: '100.00' };
  const refused = (r: TradeRequest) =>
    startTrade(ctx.client('tq-never-started'), r).then(
      () => undefined,
      (e: unknown) => e,
    );
  for (const [r, field] of [
    [{ ...ok, clientOrderId: 'a\u0000b' }, /clientOrderId may hold letters/],
    [{ ...ok, clientOrderId: 'ordre-€' }, /clientOrderId may hold letters/],
    [{ ...ok, clientOrderId: '注文-1' }, /clientOrderId may hold letters/],
    [{ ...ok, clientOrderId: 'x'.repeat(65) }, /clientOrderId must be at most 64/],
    [{ ...ok, clientOrderId: 'x'.repeat(1_000_000) }, /clientOrderId must be at most 64/],
    [{ ...ok, owner: 'ann\u0000' }, /owner must not contain NUL/],
  ] as Array<[TradeRequest, RegExp]>) {
    expect(await refused(r)).toMatchObject({ type: 'ValidationError', message: expect.stringMatching(field) });
  }
  expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [t.owner])).toBe(0);
});
