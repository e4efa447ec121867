import { randomUUID } from 'node:crypto';
import { executeTrade as runTrade, startTrade, type TradeRequest } from '../../src/client/trades';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { findOrderByClientId } from '../../src/db/queries/orders';
import type { executeTrade } from '../../src/workflows';
import { houseAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { applyTestConfig, balanceOf, BTC, trader, tradeMarketsTx, USD, type Trader } from './trade-fixtures';

/**
 * A fee schedule changed by a config transaction while orders rest: each order pays the rates
 * in force when it was placed (the rates its hold was reserved for), so a fee rise can never
 * make a resting order's fills cost more than its hold and wedge the book.
 */
const ctx = useTestContext();
const siphon = `config-siphon-trade-fees-${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  await ctx.temporal.workflow
    .getHandle(siphon)
    .terminate('trade fee tests done')
    .catch(() => undefined);
});

afterEach(async () => {
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
});

const order = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'>): TradeRequest => ({
  owner: t.owner,
  market: 'BTC-USD',
  clientOrderId: `fee-${randomUUID().slice(0, 8)}`,
  ...r,
});

/** The test markets with other fees (maker and taker, bps). */
function withFees(makerFeeBps: number, takerFeeBps: number) {
  const tx = tradeMarketsTx();
  const payload = tx.payload as { markets: Array<Record<string, unknown>> };
  return { ...tx, payload: { markets: payload.markets.map((m) => ({ ...m, makerFeeBps, takerFeeBps })) } };
}

test('a fee rise while a buy rests: the resting buy pays the maker rate it was placed with, the new taker the new rate', async () => {
  const tq = ctx.taskQueue();
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
  const fees = await houseAccount(ctx.pool, 'USD', 'fees');
  await ctx.withWorker(tq, async () => {
    await applyTestConfig(ctx, tq, siphon, tradeMarketsTx()); // maker 10, taker 20 bps
    const bid = order(buyer, { side: 'buy', quantity: '1', price: '100.00' });
    const started = await startTrade(ctx.client(tq), bid);
    await eventually(async () => (await findOrderByClientId(ctx.pool, bid.owner, bid.clientOrderId!))?.status === 'open');
    // 100.00 plus the most fee it may pay at 20 bps.
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 10_020n });

    await applyTestConfig(ctx, tq, siphon, withFees(50, 60));
    const feesBefore = (await balanceOf(ctx.pool, fees)).balance;
    const ask = await runTrade(ctx.client(tq), order(seller, { side: 'sell', quantity: '1', price: '100.00', tif: 'IOC' }));
    expect(ask).toMatchObject({ status: 'filled', filled: BTC(1).toString() });
    expect(await ctx.temporal.workflow.getHandle<typeof executeTrade>(started.workflowId).result()).toMatchObject({
      status: 'filled',
    });
    // The resting buyer: 100.00 and its maker fee at 10 bps (0.10); the seller: 100.00 less 60 bps (0.60).
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 10_000n - 10n, pending: 0n });
    expect(await balanceOf(ctx.pool, seller.accounts.USD!)).toEqual({ balance: 10_000n - 60n, pending: 0n });
    expect((await balanceOf(ctx.pool, fees)).balance - feesBefore).toBe(70n);
  });
});
