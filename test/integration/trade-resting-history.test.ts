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
/** A small history bound for the test (the default is 5,000 events), and more wake-ups than it holds. */
const HISTORY_LIMIT = 300;
const WAKEUPS = 400;

afterAll(async () => {
  await ctx.temporal.workflow
    .getHandle(siphon)
    .terminate('trade history tests done')
    .catch(() => undefined);
});

afterEach(async () => {
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
});

test('a resting order woken past its history bound continues as new, stays RUNNING and can still be cancelled', async () => {
  const tq = ctx.taskQueue();
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  await ctx.withWorker(tq, async () => {
    await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
    const request = {
      owner: buyer.owner,
      market: 'BTC-USD',
      side: 'buy' as const,
      quantity: '1',
      price: '90.00',
      historyLimit: HISTORY_LIMIT,
    };
    const started = await startTrade(ctx.client(tq), { ...request, clientOrderId: `hist-${randomUUID().slice(0, 8)}` });
    await eventually(
      async () => (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))?.status === 'open',
    );
    const handle = ctx.temporal.workflow.getHandle<typeof executeTrade>(started.workflowId);
    const firstRunId = (await handle.describe()).runId;

    for (let sent = 0; sent < WAKEUPS; sent += 10) {
      await Promise.all(Array.from({ length: 10 }, () => handle.signal(orderFilledSignal)));
    }
    await eventually(async () => (await handle.describe()).runId !== firstRunId, 120_000);

    const first = await ctx.temporal.workflow.getHandle(started.workflowId, firstRunId).describe();
    expect(first.status.name).toBe('CONTINUED_AS_NEW');
    // Bounded: past the limit by at most the wake-ups that arrived during its last read.
    expect(first.historyLength).toBeGreaterThan(HISTORY_LIMIT);
    expect(first.historyLength).toBeLessThan(HISTORY_LIMIT + WAKEUPS);
    // The run that continued as new never said it failed.
    expect(first.typedSearchAttributes.get(SAGA_STATUS)).toBe('RUNNING');

    const row = (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))!;
    expect(await cancelOrder(ctx.client(tq), row.id, buyer.owner)).toMatchObject({ status: 'cancelled' });
    expect(await handle.result()).toMatchObject({ status: 'cancelled', orderId: row.id });
    expect((await handle.describe()).typedSearchAttributes.get(SAGA_STATUS)).toBe('COMPLETED');
  });
  expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
}, 300_000);
