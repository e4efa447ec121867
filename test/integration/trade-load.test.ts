import { randomUUID } from 'node:crypto';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { applyTestConfig, tradeMarketsTx } from './trade-fixtures';
import { clearBook, makeTakers, runTakers, seedBook } from './trade-workload';

const ctx = useTestContext();

describe('trade matching under load', () => {
  test('200 concurrent takers against a seeded book on two markets: every fill settled once, the books balance', async () => {
    const tq = ctx.taskQueue();
    const siphon = `config-siphon-trade-load-${randomUUID().slice(0, 8)}`;
    const client = ctx.client(tq);
    await ctx.withWorker(
      tq,
      async () => {
        await applyTestConfig(ctx, tq, siphon, tradeMarketsTx());
        const book = await seedBook(ctx.pool, client);
        const takers = await makeTakers(ctx.pool, 200);
        const run = await runTakers(client, takers);
        expect(run.results).toHaveLength(200);
        // IOC takers end filled or with their remainder cancelled; none rests.
        expect(run.results.every((r) => r.status === 'filled' || r.status === 'cancelled')).toBe(true);
        expect(run.results.filter((r) => r.status === 'filled').length).toBeGreaterThan(150);
        expect(await count(ctx.pool, 'SELECT DISTINCT market FROM fills')).toBe(2);
        // Price-time priority: no fill is worse for the taker than a resting price it skipped.
        const outOfOrder = await count(
          ctx.pool,
          `SELECT 1 FROM fills f JOIN orders t ON t.id = f.taker_order_id
            WHERE (t.side = 'buy' AND f.price > t.price) OR (t.side = 'sell' AND f.price < t.price)`,
        );
        expect(outOfOrder).toBe(0);
        expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
        await ctx.expectInvariants(); // resting makers still hold their holds: their workflows run
        const ended = await clearBook(ctx.pool, client, book);
        expect(ended.every((o) => o.status !== 'open')).toBe(true);
        await ctx.temporal.workflow.getHandle(siphon).terminate('done');
      },
      { maxConcurrentActivities: 24 },
    );
    expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
    expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE status = 'open'`)).toBe(0);
  });
});
