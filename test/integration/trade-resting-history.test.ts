import { randomUUID } from 'node:crypto';
import { cancelOrder, startTrade } from '../../src/client/trades';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { findOrderByClientId } from '../../src/db/queries/orders';
import { SAGA_STATUS } from '../../src/temporal/search-attributes';
import { orderFilledSignal, type executeTrade } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { applyTestConfig, balanceOf, trader, tradeMarketsTx, USD } from './trade-fixtures';

/**
 * A resting order may rest for weeks and be woken many times: its history stays bounded
 * (it continues as new), it stays RUNNING throughout, and it is still cancellable after.
 */
const ctx = useTestContext();
const siphon = `config-siphon-trade-history-${randomUUID().slice(0, 8)}`;
/** More wake-ups than a run's history may hold (MAX_HISTORY in src/workflows/trade-resting.ts is 5,000 events). */
const WAKEUPS = 6_000;

afterAll(async () => {
  await ctx.temporal.workflow
    .getHandle(siphon)
    .terminate('trade history tests done')
    .catch(() => undefined);
});

afterEach(async () => {
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
});

test('a resting order woken thousands of times continues as new, stays RUNNING and can still be cancelled', async () => {
  const tq = ctx.taskQueue();
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  await ctx.withWorker(tq, async () => {
    await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
    const request = { owner: buyer.owner, market: 'BTC-USD', side: 'buy' as const, quantity: '1', price: '90.00' };
    const started = await startTrade(ctx.client(tq), { ...request, clientOrderId: `hist-${randomUUID().slice(0, 8)}` });
    await eventually(
      async () => (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))?.status === 'open',
    );
    const handle = ctx.temporal.workflow.getHandle<typeof executeTrade>(started.workflowId);
    const firstRunId = (await handle.describe()).runId;

    for (let sent = 0; sent < WAKEUPS; sent += 100) {
      await Promise.all(Array.from({ length: 100 }, () => handle.signal(orderFilledSignal)));
    }
    await eventually(async () => (await handle.describe()).runId !== firstRunId, 120_000);

    const first = await ctx.temporal.workflow.getHandle(started.workflowId, firstRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    expect(first.historyLength).toBeLessThan(10_240); // Temporal's history-size warning
    // The run that continued as new never said it failed.
    expect(first.typedSearchAttributes.get(SAGA_STATUS)).toBe('RUNNING');

    const row = (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))!;
    expect(await cancelOrder(ctx.client(tq), row.id, buyer.owner)).toMatchObject({ status: 'cancelled' });
    expect(await handle.result()).toMatchObject({ status: 'cancelled', orderId: row.id });
    expect((await handle.describe()).typedSearchAttributes.get(SAGA_STATUS)).toBe('COMPLETED');
  });
  expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
}, 300_000);
