import { randomUUID } from 'node:crypto';
import { createTradeActivities } from '../../src/activities/trade';
import { cancelOrder, startTrade } from '../../src/client/trades';
import { placeAndMatch } from '../../src/db/matching';
import { findHold } from '../../src/db/queries/holds';
import { findOrder, findOrderByClientId } from '../../src/db/queries/orders';
import { cancelOrderUpdate, orderFilledSignal, orderStateQuery, type executeTrade } from '../../src/workflows';
import { holdIdFor, stepId } from '../../src/domain/ids';
import type { PlannedOrder } from '../../src/domain/trade';
import { count } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { balanceOf, BTC, installCommitPause, trader, USD, type Trader, useTradeMarkets } from './trade-fixtures';

/**
 * Races of the trade saga's steps, driven on PostgreSQL directly so each interleaving is
 * forced rather than hoped for: the match runs in a transaction the test holds open.
 */
const ctx = useTestContext();
useTradeMarkets(ctx, 'trade-races');

/** A GTC buy of 1 BTC at 90.00 as the saga plans it (ids from the workflow id, as the activities derive them). */
function plannedBuy(t: Trader, workflowId: string): PlannedOrder {
  return {
    orderId: stepId(`${workflowId}:order`),
    holdId: holdIdFor(`${workflowId}:reserve`),
    owner: t.owner,
    clientOrderId: `race-${randomUUID().slice(0, 8)}`,
    market: 'BTC-USD',
    side: 'buy',
    type: 'limit',
    price: '9000',
    quantity: BTC(1).toString(),
    tif: 'GTC',
    postOnly: false,
    baseAsset: 'BTC',
    quoteAsset: 'USD',
    baseAccountId: t.accounts.BTC!,
    quoteAccountId: t.accounts.USD!,
    holdAsset: 'USD',
    holdAmount: (9000n + 18n).toString(),
  };
}

/** Is a session of this operation waiting on a lock (or gone)? */
async function waitingOrDone(operation: string, done: () => boolean): Promise<boolean> {
  if (done()) return true;
  const { rows } = await ctx.pool.query(
    `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
    [`txmgr-op:${operation}`],
  );
  return rows.length > 0;
}

describe('trade saga races', () => {
  test('the reserve compensation racing a match still in flight cancels the order it placed: no order rests on a released hold', async () => {
    const acts = createTradeActivities({ pool: ctx.pool, logger: ctx.logger });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    const workflowId = `trade-race-${randomUUID()}`;
    const p = plannedBuy(buyer, workflowId);
    await acts.reserveTradeFunds(p);

    // An abandoned match attempt: it placed the order and has not committed yet.
    const late = await ctx.pool.connect();
    try {
      await late.query('BEGIN');
      const matched = await placeAndMatch(late, p, workflowId);
      expect(matched.order.status).toBe('open');

      // The saga gave up on that attempt and compensates meanwhile.
      let released = false;
      const release = acts
        .releaseTradeFunds({ orderId: p.orderId, holdId: p.holdId, reason: 'the match timed out', market: p.market })
        .finally(() => (released = true));
      await eventually(() => waitingOrDone('releaseTradeFunds', () => released));
      await late.query('COMMIT');
      await release;
    } finally {
      late.release();
    }

    expect(await findOrder(ctx.pool, p.orderId)).toMatchObject({ status: 'cancelled', close_reason: 'the match timed out' });
    expect(await findHold(ctx.pool, p.holdId)).toMatchObject({ status: 'released', captured: '0' });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('a compensation recorded without the market (an older saga) fences the match on the hold instead', async () => {
    const acts = createTradeActivities({ pool: ctx.pool, logger: ctx.logger });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    const workflowId = `trade-race-${randomUUID()}`;
    const p = plannedBuy(buyer, workflowId);
    await acts.reserveTradeFunds(p);

    const late = await ctx.pool.connect();
    try {
      await late.query('BEGIN');
      await placeAndMatch(late, p, workflowId);
      let released = false;
      const release = acts
        .releaseTradeFunds({ orderId: p.orderId, holdId: p.holdId, reason: 'the match timed out' })
        .finally(() => (released = true));
      await eventually(() => waitingOrDone('releaseTradeFunds', () => released));
      await late.query('COMMIT');
      await release;
    } finally {
      late.release();
    }

    expect(await findOrder(ctx.pool, p.orderId)).toMatchObject({ status: 'cancelled' });
    expect(await findHold(ctx.pool, p.holdId)).toMatchObject({ status: 'released' });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('a match attempt that arrives after the compensation places nothing', async () => {
    const acts = createTradeActivities({ pool: ctx.pool, logger: ctx.logger });
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    const workflowId = `trade-race-${randomUUID()}`;
    const p = plannedBuy(buyer, workflowId);
    await acts.reserveTradeFunds(p);
    await acts.releaseTradeFunds({ orderId: p.orderId, holdId: p.holdId, reason: 'gave up', market: p.market });
    const late = await ctx.pool.connect();
    try {
      await late.query('BEGIN');
      await expect(placeAndMatch(late, p, workflowId)).rejects.toMatchObject({ type: 'HoldNotOpen' });
      await late.query('ROLLBACK');
    } finally {
      late.release();
    }
    expect(await findOrder(ctx.pool, p.orderId)).toBeUndefined();
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('a cancel sent as soon as the book shows the order waits for its workflow to hear of it, then cancels', async () => {
    const tq = ctx.taskQueue();
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      const request = { owner: buyer.owner, market: 'BTC-USD', side: 'buy' as const, quantity: '1', price: '90.00' };
      // A pause right after COMMIT stops the match committed (the book shows the order) and not yet reported.
      const commitPause = await installCommitPause(ctx.pool);
      let afterCommit: { end(): Promise<void> } | undefined;
      const market = await ctx.pool.connect();
      let started: Awaited<ReturnType<typeof startTrade>>;
      try {
        // First the market's lock, so the match waits until the pause is in place too.
        await market.query('BEGIN');
        await market.query(`SELECT pg_advisory_xact_lock(hashtextextended('txmgr:market:' || $1, 0))`, ['BTC-USD']);
        started = await startTrade(ctx.client(tq), { ...request, clientOrderId: `race-${randomUUID().slice(0, 8)}` });
        await eventually(() => waitingOrDone('placeAndMatchOrder', () => false));
        afterCommit = await commitPause.pause();
        await market.query('ROLLBACK');
        await eventually(
          async () => (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))?.status === 'open',
        );
        const row = (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))!;
        const cancelled = cancelOrder(ctx.client(tq), row.id, buyer.owner);
        // The workflow cannot know of its order while the match is unreported: the cancel must wait, not fail.
        const early = await Promise.race([
          cancelled.then(
            () => 'answered',
            () => 'refused',
          ),
          sleep(2_000).then(() => 'waiting'),
        ]);
        expect(early).toBe('waiting');
        await afterCommit.end();
        expect(await cancelled).toMatchObject({ status: 'cancelled', closeReason: 'cancelled by its owner' });
      } finally {
        await afterCommit?.end();
        await market.query('ROLLBACK').catch(() => undefined);
        market.release();
      }
      expect(await ctx.temporal.workflow.getHandle<typeof executeTrade>(started.workflowId).result()).toMatchObject({
        status: 'cancelled',
      });
    });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });

  test('a cancel that lands while a wake-up re-reads the order is not undone by that stale read', async () => {
    const tq = ctx.taskQueue();
    const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
    await ctx.withWorker(tq, async () => {
      // No periodic re-read for an hour: only the wake-up's read and the cancel tell it anything.
      const request = {
        owner: buyer.owner,
        market: 'BTC-USD',
        side: 'buy' as const,
        quantity: '1',
        price: '90.00',
        recheckSeconds: 3600,
      };
      const started = await startTrade(ctx.client(tq), { ...request, clientOrderId: `race-${randomUUID().slice(0, 8)}` });
      await eventually(
        async () => (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))?.status === 'open',
      );
      const row = (await findOrderByClientId(ctx.pool, buyer.owner, started.input.clientOrderId))!;
      const handle = ctx.temporal.workflow.getHandle<typeof executeTrade>(started.workflowId);
      await eventually(async () => (await handle.query(orderStateQuery))?.status === 'open');
      const reads = () =>
        count(ctx.pool, `SELECT 1 FROM transaction_metrics WHERE workflow_id = $1 AND operation = 'readOrder' AND success`, [
          started.workflowId,
        ]);
      const readsBefore = await reads();

      // A wake-up's re-read has read the order (open) and waits on the markets table the test holds.
      const markets = await ctx.pool.connect();
      try {
        await markets.query('BEGIN');
        await markets.query('LOCK TABLE markets IN ACCESS EXCLUSIVE MODE');
        await handle.signal(orderFilledSignal);
        await eventually(() => waitingOrDone('readOrder', () => false));
        // Meanwhile its owner cancels (the update itself: the client would read the markets table too).
        const cancelled = await handle.executeUpdate(cancelOrderUpdate, { args: [{ owner: buyer.owner }] });
        expect(cancelled).toMatchObject({ orderId: row.id, status: 'cancelled' });
        await markets.query('ROLLBACK');
      } finally {
        await markets.query('ROLLBACK').catch(() => undefined);
        markets.release();
      }
      await eventually(async () => (await reads()) > readsBefore);
      // The stale read (open) finished after the cancel: the workflow still knows its order is cancelled and
      // ends, rather than resting on a cancelled order until its next re-read an hour later.
      await eventually(async () => (await handle.describe()).status.name === 'COMPLETED', 60_000);
      expect(await handle.result()).toMatchObject({ status: 'cancelled', closeReason: 'cancelled by its owner' });
    });
    expect(await balanceOf(ctx.pool, buyer.accounts.USD!)).toEqual({ balance: USD(1000), pending: 0n });
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
