import { randomUUID } from 'node:crypto';
import { lockMarket } from '../../src/db/queries/orders';
import { withTransaction } from '../../src/db/transaction';
import { count } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';
import { balanceOf, BTC, trader, USD, type Trader, useTradeMarkets } from './trade-fixtures';

const ctx = useTestContext();
const idem = () => randomUUID();
useTradeMarkets(ctx, 'api-trades', { noOpenOrders: true });

const order = (t: Trader, r: Record<string, unknown>) => ({
  workflow_type: 'trade_execution',
  parameters: { owner: t.owner, market: 'BTC-USD', clientOrderId: `c-${randomUUID().slice(0, 12)}`, ...r },
});

describe('trades over HTTP', () => {
  let api: ApiUnderTest;
  let key: string;
  let tq: string;
  beforeAll(async () => {
    tq = ctx.taskQueue();
    api = await startTestApi(ctx, tq, { maxWaitSeconds: 60 });
    key = await api.key(['execute', 'read']);
  });
  afterAll(async () => api?.close());

  const post = (path: string, body: unknown) => api.call('POST', path, { key, idempotencyKey: idem(), body });
  const status = async (workflowId: string) => (await api.call('GET', `status/${workflowId}`, { key })).body;

  test('a resting order, a taker waited for, then the rest cancelled by its owner only, and only while open', async () => {
    const seller = await trader(ctx.pool, { BTC: BTC(1), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(20_000) });
    await ctx.withWorker(tq, async () => {
      const maker = await post('execute-workflow', order(seller, { side: 'sell', quantity: '0.5', price: '50000.00' }));
      expect(maker.status).toBe(202);
      expect(maker.body).toMatchObject({ workflowType: 'trade_execution', started: true, outcome: null });
      await eventually(async () => (await status(maker.body.workflowId)).detail?.status === 'open');
      const resting = await status(maker.body.workflowId);
      expect(resting).toMatchObject({
        kind: 'trade',
        status: 'RUNNING',
        state: 'RUNNING',
        saga: { stepsDone: expect.arrayContaining(['validate', 'reserve', 'match']) },
        detail: { priceDisplay: '50000.00 USD', quantityDisplay: '0.50000000 BTC', price: '5000000', quantity: '50000000' },
      });
      const orderId: string = resting.detail.orderId;

      const taker = await post(
        'execute-workflow?wait=true',
        order(buyer, { side: 'buy', quantity: '0.2', price: '50000.00', tif: 'IOC' }),
      );
      expect(taker.status).toBe(200);
      expect(taker.body.outcome).toMatchObject({
        status: 'COMPLETED',
        result: { status: 'filled', filled: '20000000', filledDisplay: '0.20000000 BTC', priceDisplay: '50000.00 USD' },
      });
      expect(await status(taker.body.workflowId)).toMatchObject({
        state: 'COMPLETED',
        saga: { status: 'COMPLETED', compensationsRun: [] },
        outcome: { status: 'COMPLETED', result: { status: 'filled' } },
      });

      const stranger = await post(`orders/${orderId}/cancel`, { owner: buyer.owner });
      expect(stranger.status).toBe(422);
      expect(stranger.body.error).toMatchObject({ type: 'ValidationError', field: 'owner' });
      const missing = await post(`orders/${randomUUID()}/cancel`, { owner: seller.owner });
      expect(missing.status).toBe(404);
      expect(missing.body.error).toMatchObject({ type: 'NotFound', field: 'orderId' });

      const cancelled = await post(`orders/${orderId}/cancel`, { owner: seller.owner });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body).toMatchObject({
        workflowId: maker.body.workflowId,
        order: { orderId, status: 'cancelled', filled: '20000000', filledDisplay: '0.20000000 BTC' },
      });
      const again = await post(`orders/${orderId}/cancel`, { owner: seller.owner });
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ type: 'InvalidState', field: 'orderId' });
      expect(again.body.error.message).toMatch(/cancelled; only an open order can be cancelled/);
      await eventually(async () => (await status(maker.body.workflowId)).outcome !== null);
      expect(await status(maker.body.workflowId)).toMatchObject({
        status: 'COMPLETED',
        outcome: { status: 'COMPLETED', result: { status: 'cancelled', filledDisplay: '0.20000000 BTC' } },
      });
    });
    // The seller keeps what was not sold; its hold for the rest was released.
    expect(await balanceOf(ctx.pool, seller.accounts.BTC!)).toEqual({ balance: BTC(0.8), pending: 0n });
    const audit = await ctx.pool.query(`SELECT route, outcome FROM api_audit WHERE route LIKE '%/orders/%' ORDER BY id`);
    expect(audit.rows.map((r) => r.outcome)).toEqual(['ValidationError', 'NotFound', 'ok', 'InvalidState']);
  });

  test('bad trade parameters are refused naming the field, and nothing starts', async () => {
    const t = await trader(ctx.pool, { BTC: 0n, USD: 0n });
    const number = await post('execute-workflow', order(t, { side: 'buy', quantity: '0.5', price: 50000 }));
    expect(number.status).toBe(422);
    expect(number.body.error.field).toBe('parameters.price');
    const market = await post('execute-workflow', order(t, { side: 'buy', quantity: '0.5', price: '1.00', market: 'XXX-USD' }));
    expect(market.status).toBe(422);
    expect(market.body.error.field).toBe('market');
    expect(await count(ctx.pool, 'SELECT 1 FROM orders WHERE owner = $1', [t.owner])).toBe(0);
  });

  test('GET /locks names the market whose matching holds the advisory lock', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = withTransaction(ctx.pool, 'apiTestMatches', async (c) => {
      await lockMarket(c, 'BTC-USD');
      locked();
      await held;
    });
    await isLocked;
    try {
      const locks = await api.call('GET', 'locks', { key });
      expect(locks.status).toBe(200);
      expect(locks.body.databaseLocks).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ locktype: 'advisory', market: 'BTC-USD', operation: 'apiTestMatches' }),
        ]),
      );
      expect(locks.body.databaseLocks.filter((l: { market: string | null }) => l.market === 'ETH-EUR')).toEqual([]);
    } finally {
      release();
      await tx;
    }
  });
});
