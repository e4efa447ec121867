import { randomUUID } from 'node:crypto';
import { executeTrade, orderStateQuery } from '../../src/workflows';
import { cancelOrder, executeTrade as runTrade, getBook, getOrder, startTrade, type TradeRequest } from '../../src/client/trades';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { placeAndMatch } from '../../src/db/matching';
import { withTransaction } from '../../src/db/transaction';
import type { PlannedOrder } from '../../src/domain/trade';
import { count, houseAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { applyTestConfig, balanceOf, BTC, failureOf, trader, tradeMarketsTx, USD, type Trader } from './trade-fixtures';

const ctx = useTestContext();
const siphonIds: string[] = [];
/** A siphon of its own on the test's task queue (the queue's worker lives only as long as the test). */
const newSiphon = () => {
  siphonIds.push(`config-siphon-trade-${randomUUID().slice(0, 8)}`);
  return siphonIds[siphonIds.length - 1]!;
};

beforeAll(async () => {
  const tq = ctx.taskQueue();
  await ctx.withWorker(tq, () => applyTestConfig(ctx, tq, newSiphon(), tradeMarketsTx()));
});

afterAll(async () => {
  for (const id of siphonIds) {
    await ctx.temporal.workflow
      .getHandle(id)
      .terminate('trade tests done')
      .catch(() => undefined);
  }
});

afterEach(async () => {
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
  // Each test leaves the BTC-USD book as it found it: empty.
  expect(await count(ctx.pool, `SELECT 1 FROM orders WHERE market = 'BTC-USD' AND status = 'open'`)).toBe(0);
});

const order = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'> & { market?: string }): TradeRequest => ({
  owner: t.owner,
  market: 'BTC-USD',
  clientOrderId: `c-${randomUUID().slice(0, 12)}`,
  ...r,
});

/** Starts a resting order and waits until it is on the book. */
async function rest(tq: string, r: TradeRequest): Promise<string> {
  const started = await startTrade(ctx.client(tq), r);
  await eventually(async () => (await findOrderByClientId(ctx.pool, r.owner, r.clientOrderId!))?.status === 'open');
  return started.workflowId;
}

const result = (workflowId: string) => ctx.temporal.workflow.getHandle<typeof executeTrade>(workflowId).result();
const openHolds = () => count(ctx.pool, `SELECT 1 FROM holds WHERE status = 'open'`);

describe('trade execution saga', () => {
  test('a taker crosses several price levels at the makers’ prices; the partly filled maker rests and is filled later', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const sellers = await Promise.all([1, 2, 3].map(() => trader(ctx.pool, { BTC: BTC(2), USD: 0n })));
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    const fees = await houseAccount(ctx.pool, 'USD', 'fees');
    const feesBefore = (await balanceOf(ctx.pool, fees)).balance;
    await ctx.withWorker(tq, async () => {
      const makers: string[] = [];
      for (const [i, s] of sellers.entries()) {
        makers.push(await rest(tq, order(s, { side: 'sell', quantity: '1', price: `${100 + i}.00` })));
      }
      const taken = await runTrade(client, order(buyer, { side: 'buy', quantity: '2.5', price: '102.00', tif: 'IOC' }));
      expect(taken).toMatchObject({ status: 'filled', filled: BTC(2.5).toString(), filledDisplay: '2.50000000 BTC' });
      expect(await result(makers[0]!)).toMatchObject({ status: 'filled' });
      expect(await result(makers[1]!)).toMatchObject({ status: 'filled' });
      // The third maker filled half and rests with its hold for the other half.
      const third = await ctx.temporal.workflow.getHandle(makers[2]!).query(orderStateQuery);
      await eventually(async () => (await getOrder(ctx.pool, third!.orderId))?.filled === BTC(0.5).toString());
      expect(await getBook(ctx.pool, 'BTC-USD')).toMatchObject({
        asks: [{ priceDisplay: '102.00', quantityDisplay: '0.50000000', orders: 1 }],
        bids: [],
      });
      expect((await balanceOf(ctx.pool, sellers[2]!.accounts.BTC!)).pending).toBe(BTC(0.5));
      const second = await trader(ctx.pool, { BTC: 0n, USD: USD(100) });
      await runTrade(client, order(second, { side: 'buy', quantity: '0.5', price: '102.00', tif: 'IOC' }));
      expect(await result(makers[2]!)).toMatchObject({ status: 'filled', filled: BTC(1).toString() });
    });
    // Buyer: 100.00 + 101.00 + 51.00 at the makers' prices, taker fee 20 bps rounded down per fill (0.20 + 0.20 + 0.10).
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 25200n - 50n, pending: 0n });
    expect(await balanceOf(ctx.pool, buyer.accounts.BTC!)).toEqual({ balance: BTC(2.5), pending: 0n });
    // Makers: notional less 10 bps, rounded down (the fee payer keeps the fraction).
    expect((await balanceOf(ctx.pool, sellers[0]!.accounts.USD!)).balance).toBe(10000n - 10n);
    expect((await balanceOf(ctx.pool, sellers[1]!.accounts.USD!)).balance).toBe(10100n - 10n);
    expect((await balanceOf(ctx.pool, sellers[2]!.accounts.USD!)).balance).toBe(2n * (5100n - 5n));
    expect(await balanceOf(ctx.pool, sellers[2]!.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
    expect((await balanceOf(ctx.pool, fees)).balance - feesBefore).toBe(50n + 10n + 10n + 5n + 10n + 5n);
    expect(await openHolds()).toBe(0);
  });

  test('a FOK the book cannot fill leaves nothing behind: no fill, no hold, no money moved', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const maker = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '100.00' }));
      const fok = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', quantity: '2', price: '100.00', tif: 'FOK' }));
      expect(fok).toMatchObject({ status: 'cancelled', filled: '0' });
      expect(fok.closeReason).toMatch(/FOK/);
      expect(await count(ctx.pool, 'SELECT 1 FROM fills WHERE taker_order_id = $1', [fok.orderId])).toBe(0);
      expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
      const makerOrder = await ctx.temporal.workflow.getHandle(maker).query(orderStateQuery);
      expect((await getOrder(ctx.pool, makerOrder!.orderId))?.filled).toBe('0');
      await cancelOrder(ctx.client(tq), makerOrder!.orderId, seller.owner);
      expect(await result(maker)).toMatchObject({ status: 'cancelled' });
    });
    expect(await balanceOf(ctx.pool, seller.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
    expect(await openHolds()).toBe(0);
  });

  test('an IOC fills what it can and cancels its remainder, releasing the rest of its hold', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const maker = await rest(tq, order(seller, { side: 'sell', quantity: '0.4', price: '100.00' }));
      const ioc = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' }));
      expect(ioc).toMatchObject({ status: 'cancelled', filled: BTC(0.4).toString() });
      expect(ioc.closeReason).toMatch(/IOC/);
      expect(await result(maker)).toMatchObject({ status: 'filled' });
    });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000) - 4000n - 8n, pending: 0n });
    expect(await openHolds()).toBe(0);
  });

  test('a GTC order rests until its owner cancels it by update; nobody else can, and a closed order cannot be cancelled', async () => {
    const tq = ctx.taskQueue();
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    const other = await trader(ctx.pool, { BTC: 0n, USD: 0n });
    await ctx.withWorker(tq, async () => {
      const wf = await rest(tq, order(buyer, { side: 'buy', quantity: '1', price: '90.00' }));
      const state = (await ctx.temporal.workflow.getHandle(wf).query(orderStateQuery))!;
      // 90.00 plus the most fee it may pay (20 bps) is held.
      expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 9000n + 18n });
      await expect(cancelOrder(ctx.client(tq), state.orderId, other.owner)).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringContaining('owner'),
      });
      const cancelled = await cancelOrder(ctx.client(tq), state.orderId, buyer.owner);
      expect(cancelled).toMatchObject({ status: 'cancelled', closeReason: 'cancelled by its owner' });
      expect(await result(wf)).toMatchObject({ status: 'cancelled' });
      await expect(cancelOrder(ctx.client(tq), state.orderId, buyer.owner)).rejects.toMatchObject({ type: 'InvalidState' });
    });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('a GTD order expires by its durable timer and releases its hold', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    await ctx.withWorker(tq, async () => {
      const expiresAt = new Date(Date.now() + 3_000).toISOString();
      const wf = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '110.00', tif: 'GTD', expiresAt }));
      expect((await balanceOf(ctx.pool, seller.accounts.BTC!)).pending).toBe(BTC(1));
      expect(await result(wf)).toMatchObject({ status: 'expired', closeReason: 'GTD: expired' });
    });
    expect(await balanceOf(ctx.pool, seller.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
  });

  test('a post-only order that would cross is rejected before any write', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const maker = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '100.00' }));
      const started = await startTrade(
        ctx.client(tq),
        order(buyer, { side: 'buy', quantity: '1', price: '100.00', postOnly: true }),
      );
      const failure = await failureOf(result(started.workflowId));
      expect(failure.type).toBe('ValidationError');
      expect(failure.message).toMatch(/^postOnly:/);
      expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [buyer.owner])).toBe(0);
      expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE workflow_id = $1', [started.workflowId])).toBe(0);
      const m = (await ctx.temporal.workflow.getHandle(maker).query(orderStateQuery))!;
      await cancelOrder(ctx.client(tq), m.orderId, seller.owner);
      await result(maker);
    });
  });

  test('self-trade prevention cancels the resting order of the same owner; nothing trades', async () => {
    const tq = ctx.taskQueue();
    const both = await trader(ctx.pool, { BTC: BTC(1), USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const maker = await rest(tq, order(both, { side: 'sell', quantity: '1', price: '100.00' }));
      const taker = await runTrade(ctx.client(tq), order(both, { side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' }));
      expect(taker).toMatchObject({ status: 'cancelled', filled: '0' });
      expect(await result(maker)).toMatchObject({ status: 'cancelled', closeReason: expect.stringMatching(/self-trade/) });
    });
    expect(
      await count(ctx.pool, 'SELECT 1 FROM fills f JOIN orders o ON o.id = f.taker_order_id WHERE o.owner = $1', [both.owner]),
    ).toBe(0);
    expect(await balanceOf(ctx.pool, both.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
    expect(await balanceOf(ctx.pool, both.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('the same client order id returns the first order; a different order under it is an IdempotencyConflict', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const maker = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '100.00' }));
      const request = order(buyer, { side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' });
      const first = await runTrade(ctx.client(tq), request);
      const again = await runTrade(ctx.client(tq), request);
      expect(again.orderId).toBe(first.orderId);
      await expect(runTrade(ctx.client(tq), { ...request, quantity: '0.5' })).rejects.toMatchObject({
        type: 'IdempotencyConflict',
        message: expect.stringContaining('quantity'),
      });
      // The match run a second time finds the first run's result and moves nothing.
      const row = (await findOrderByClientId(ctx.pool, buyer.owner, request.clientOrderId!))!;
      const transfersBefore = await count(ctx.pool, 'SELECT 1 FROM transfers');
      const planned: PlannedOrder = {
        orderId: row.id,
        holdId: row.hold_id,
        owner: row.owner,
        clientOrderId: row.client_order_id,
        market: row.market,
        side: row.side,
        type: row.type,
        price: row.price,
        quantity: row.quantity,
        tif: row.tif,
        postOnly: row.post_only,
        baseAsset: 'BTC',
        quoteAsset: 'USD',
        baseAccountId: row.base_account_id,
        quoteAccountId: row.quote_account_id,
        holdAsset: 'USD',
        holdAmount: '10020',
      };
      const rerun = await withTransaction(ctx.pool, 'test-rerun', (tx) => placeAndMatch(tx, planned, row.workflow_id));
      expect(rerun).toMatchObject({ order: { orderId: first.orderId, status: 'filled' }, fills: 1 });
      expect(await count(ctx.pool, 'SELECT 1 FROM transfers')).toBe(transfersBefore);
      await result(maker);
    });
    expect(await balanceOf(ctx.pool, buyer.accounts.BTC!)).toEqual({ balance: BTC(1), pending: 0n });
  });

  test('a market order with a worst-price protection takes what is within it and never rests', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { BTC: BTC(2), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const near = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '100.00' }));
      const far = await rest(tq, order(seller, { side: 'sell', quantity: '1', price: '120.00' }));
      const m = await runTrade(ctx.client(tq), order(buyer, { side: 'buy', type: 'market', quantity: '2', price: '110.00' }));
      expect(m).toMatchObject({ status: 'cancelled', filled: BTC(1).toString(), type: 'market' });
      await result(near);
      const f = (await ctx.temporal.workflow.getHandle(far).query(orderStateQuery))!;
      await cancelOrder(ctx.client(tq), f.orderId, seller.owner);
      await result(far);
    });
    expect(await openHolds()).toBe(0);
  });

  test('a halt by config transaction cancels resting orders, releases their holds and refuses new orders', async () => {
    const tq = ctx.taskQueue();
    const seller = await trader(ctx.pool, { ETH: 10n ** 18n, EUR: 0n });
    const buyer = await trader(ctx.pool, { ETH: 0n, EUR: 100_000n });
    await ctx.withWorker(tq, async () => {
      const eth = (r: Omit<TradeRequest, 'owner' | 'market'>, t: Trader) => ({
        ...order(t, r),
        market: 'ETH-EUR',
        recheckSeconds: 1,
      });
      const ask = await rest(tq, eth({ side: 'sell', quantity: '1', price: '2000.00' }, seller));
      const bid = await rest(tq, eth({ side: 'buy', quantity: '0.1', price: '1900.00' }, buyer));
      await applyTestConfig(ctx, tq, newSiphon(), {
        kind: 'markets.status',
        payload: { symbol: 'ETH-EUR', status: 'halted', reason: 'drill' },
      });
      expect(await result(ask)).toMatchObject({ status: 'cancelled', closeReason: 'market halted: drill' });
      expect(await result(bid)).toMatchObject({ status: 'cancelled' });
      await expect(
        startTrade(ctx.client(tq), eth({ side: 'buy', quantity: '0.1', price: '1900.00' }, buyer)),
      ).rejects.toMatchObject({
        type: 'MarketHalted',
      });
    });
    expect(await balanceOf(ctx.pool, seller.accounts.ETH!)).toEqual({ balance: 10n ** 18n, pending: 0n });
    expect(await balanceOf(ctx.pool, buyer.accounts.EUR!)).toEqual({ balance: 100_000n, pending: 0n });
    expect(await count(ctx.pool, `SELECT 1 FROM orders WHERE market = 'ETH-EUR' AND status = 'open'`)).toBe(0);
  });
});

describe('trade bad input', () => {
  const refused = async (request: unknown, type: string, field: RegExp) => {
    const err = await startTrade(ctx.client('tq-never-started'), request as TradeRequest).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ type, message: expect.stringMatching(field) });
  };

  test('the client refuses malformed orders before anything starts, naming the field', async () => {
    const t = await trader(ctx.pool, { BTC: BTC(1), USD: USD(100) });
    const ok = { owner: t.owner, market: 'BTC-USD', side: 'buy', quantity: '0.5', price: '100.00' };
    await refused({ ...ok, quantity: '0' }, 'ValidationError', /quantity/);
    await refused({ ...ok, quantity: '-1' }, 'ValidationError', /quantity/);
    await refused({ ...ok, quantity: '1e3' }, 'ValidationError', /quantity/);
    await refused({ ...ok, quantity: '0.000000001' }, 'ValidationError', /quantity has 9 decimal places/);
    await refused({ ...ok, quantity: 5 }, 'ValidationError', /quantity/);
    await refused({ ...ok, price: '0' }, 'ValidationError', /price/);
    await refused({ ...ok, price: '100.001' }, 'ValidationError', /price has 3 decimal places/);
    await refused({ ...ok, price: '1'.repeat(40) }, 'ValidationError', /price is out of range/);
    await refused({ ...ok, side: 'short' }, 'ValidationError', /side/);
    await refused({ ...ok, tif: 'DAY' }, 'ValidationError', /tif/);
    await refused({ ...ok, type: 'market', tif: 'GTC' }, 'ValidationError', /tif/);
    await refused({ ...ok, tif: 'GTD' }, 'ValidationError', /expiresAt/);
    await refused({ ...ok, postOnly: 'yes' }, 'ValidationError', /postOnly/);
    await refused({ ...ok, leverage: 10 }, 'ValidationError', /leverage/);
    await refused({ ...ok, market: 'DOGE-USD' }, 'ValidationError', /market: unknown market/);
    await refused({ ...ok, market: 'btc' }, 'ValidationError', /market/);
    expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [t.owner])).toBe(0);
  });

  test('the saga refuses orders the market or the owner cannot take, before any write', async () => {
    const tq = ctx.taskQueue();
    const t = await trader(ctx.pool, { BTC: BTC(1), USD: USD(100) });
    const noUsd = await trader(ctx.pool, { BTC: 0n });
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ price: '10001' }, 'ValidationError', /^price: 100\.01 USD is not a multiple of the tick 0\.05 USD/], // off tick (minor units)
      [{ quantity: '15000' }, 'ValidationError', /^quantity: 0\.00015000 BTC is not a multiple of the lot/],
      [{ quantity: String(101n * 10n ** 8n) }, 'ValidationError', /^quantity: 101\.00000000 BTC is outside/],
      [{ quantity: '0' }, 'ValidationError', /quantity/],
      [{ owner: noUsd.owner }, 'ValidationError', /^owner: .* has no USD account/],
      [{ quantity: String(10n ** 8n * 50n), tif: 'IOC' }, 'InsufficientFunds', /available/], // 5000 USD of 100
      [{ extra: true }, 'ValidationError', /extra/],
    ];
    await ctx.withWorker(tq, async () => {
      for (const [change, type, message] of cases) {
        const workflowId = `trade-bad-${randomUUID()}`;
        const input = {
          owner: t.owner,
          clientOrderId: `bad-${randomUUID().slice(0, 8)}`,
          market: 'BTC-USD',
          side: 'buy',
          price: '10000',
          quantity: String(10n ** 7n),
          ...change,
        };
        const failure = await failureOf(
          ctx.temporal.workflow.execute(executeTrade, { taskQueue: tq, workflowId, args: [input as never] }),
        );
        expect({ type: failure.type, message: failure.message }).toEqual({ type, message: expect.stringMatching(message) });
        expect(
          await count(ctx.pool, 'SELECT 1 FROM holds WHERE workflow_id = $1 AND status <> $2', [workflowId, 'released']),
        ).toBe(0);
      }
    });
    expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [t.owner])).toBe(0);
    expect(await balanceOf(ctx.pool, t.accounts.USD!)).toEqual({ balance: USD(100), pending: 0n });
  });
});
