/**
 * Records the trade saga's histories for the replay tests. Not a test: run it with
 * `npm run record-histories` after a deliberate, versioned workflow change. Every path
 * asserts its outcome, so a recording of the wrong path fails instead of being saved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { cancelOrder, placeTrade, startTrade, type TradeRequest } from '../../src/client/trades';
import { executeTrade, orderFilledSignal } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { applyTestConfig, BTC, trader, tradeMarketsTx, USD, type Trader } from '../integration/trade-fixtures';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

async function save(name: string, workflowId: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(workflowId).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

test('record trade histories', async () => {
  const tq = ctx.taskQueue();
  const siphon = `config-siphon-record-${randomUUID().slice(0, 8)}`;
  const client = ctx.client(tq);
  const result = (id: string) => ctx.temporal.workflow.getHandle<typeof executeTrade>(id).result();
  const req = (t: Trader, r: Omit<TradeRequest, 'owner' | 'market'>, market = 'BTC-USD'): TradeRequest => ({
    owner: t.owner,
    market,
    clientOrderId: `replay-${randomUUID().slice(0, 8)}`,
    recheckSeconds: 1,
    ...r,
  });
  await ctx.withWorker(tq, async () => {
    await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
    const seller = await trader(ctx.pool, { BTC: BTC(10), USD: 0n });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(10_000) });

    // partial + rest + fill: a maker filled by two takers; the first taker's path is the plain fill.
    const maker = await placeTrade(client, req(seller, { side: 'sell', quantity: '1', price: '100.00' }));
    const taker = await startTrade(client, req(buyer, { side: 'buy', quantity: '0.4', price: '100.00', tif: 'IOC' }));
    expect(await result(taker.workflowId)).toMatchObject({ status: 'filled' });
    await save('trade-fill', taker.workflowId);
    await startTrade(client, req(buyer, { side: 'buy', quantity: '0.6', price: '100.00', tif: 'IOC' }));
    expect(await result(maker.workflowId)).toMatchObject({ status: 'filled' });
    await save('trade-partial-rest-fill', maker.workflowId);

    const resting = await placeTrade(client, req(buyer, { side: 'buy', quantity: '1', price: '90.00' }));
    await cancelOrder(client, resting.orderId, buyer.owner);
    expect(await result(resting.workflowId)).toMatchObject({ status: 'cancelled' });
    await save('trade-cancel', resting.workflowId);

    const expiresAt = new Date(Date.now() + 2_000).toISOString();
    const gtd = await placeTrade(client, req(seller, { side: 'sell', quantity: '1', price: '110.00', tif: 'GTD', expiresAt }));
    expect(await result(gtd.workflowId)).toMatchObject({ status: 'expired' });
    await save('trade-expiry', gtd.workflowId);

    const fok = await startTrade(client, req(buyer, { side: 'buy', quantity: '5', price: '100.00', tif: 'FOK' }));
    expect(await result(fok.workflowId)).toMatchObject({ status: 'cancelled', filled: '0' });
    await save('trade-fok-reject', fok.workflowId);

    // compensated: the reserve is refused (not enough USD), its release runs as the compensation.
    const poor = await trader(ctx.pool, { BTC: 0n, USD: USD(1) });
    const refused = await startTrade(client, req(poor, { side: 'buy', quantity: '1', price: '100.00', tif: 'IOC' }));
    await expect(result(refused.workflowId)).rejects.toMatchObject({ cause: { type: 'InsufficientFunds' } });
    await save('trade-compensated', refused.workflowId);

    // resumed: a resting order woken past its history bound continues as new; the new run is cancelled.
    const woken = await placeTrade(client, req(buyer, { side: 'buy', quantity: '1', price: '80.00', historyLimit: 200 }));
    const handle = ctx.temporal.workflow.getHandle<typeof executeTrade>(woken.workflowId);
    const firstRun = (await handle.describe()).runId;
    for (let sent = 0; sent < 300; sent += 10) {
      await Promise.all(Array.from({ length: 10 }, () => handle.signal(orderFilledSignal)));
    }
    await eventually(async () => (await handle.describe()).runId !== firstRun, 120_000);
    await cancelOrder(client, woken.orderId, buyer.owner);
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
    await save('trade-resumed-cancel', woken.workflowId);

    const halted = await placeTrade(client, req(seller, { side: 'sell', quantity: '1', price: '120.00' }));
    await applyTestConfig(ctx, tq, siphon, { kind: 'markets.status', payload: { symbol: 'BTC-USD', status: 'halted' } });
    expect(await result(halted.workflowId)).toMatchObject({ status: 'cancelled' });
    await save('trade-halt', halted.workflowId);
    await ctx.temporal.workflow.getHandle(siphon).terminate('recorded');
  });
});
