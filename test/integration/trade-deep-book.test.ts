import { randomUUID } from 'node:crypto';
import { placeHold } from '../../src/db/ledger';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { placeAndMatch } from '../../src/db/matching';
import { findHouseAccount } from '../../src/db/queries/accounts';
import { withTransaction } from '../../src/db/transaction';
import { holdIdFor, stepId } from '../../src/domain/ids';
import { MAX_MAKER_WAKEUPS, type PlannedOrder } from '../../src/domain/trade';
import { reserveFor } from '../../src/domain/trade-math';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { applyTestConfig, trader, tradeMarketsTx, USD, type Trader } from './trade-fixtures';

/**
 * A taker that sweeps a deep book: one transaction fills every resting order it reaches, but
 * its result (and the signals it leads to) names at most MAX_MAKER_WAKEUPS of them, so it stays
 * far below Temporal's 2 MB payload limit. The rest see their order filled at their re-read.
 */
const ctx = useTestContext();
const siphon = `config-siphon-trade-deep-${randomUUID().slice(0, 8)}`;
const LOT = 10_000n; // 0.0001 BTC, the test market's lot
const MAKERS = MAX_MAKER_WAKEUPS + 1;

beforeAll(async () => {
  const tq = ctx.taskQueue();
  await ctx.withWorker(tq, () => applyTestConfig(ctx, tq, siphon, tradeMarketsTx()));
});

afterAll(async () => {
  await ctx.temporal.workflow
    .getHandle(siphon)
    .terminate('deep book tests done')
    .catch(() => undefined);
});

/** An order as the saga plans it, for the workflow id given (its ids derive from it). */
function planned(t: Trader, workflowId: string, side: 'buy' | 'sell', quantity: bigint, holdAmount: bigint): PlannedOrder {
  return {
    orderId: stepId(`${workflowId}:order`),
    holdId: holdIdFor(`${workflowId}:reserve`),
    owner: t.owner,
    clientOrderId: `deep-${randomUUID().slice(0, 12)}`,
    market: 'BTC-USD',
    side,
    type: 'limit',
    price: '10000',
    quantity: quantity.toString(),
    tif: side === 'sell' ? 'GTC' : 'IOC',
    postOnly: false,
    baseAsset: 'BTC',
    quoteAsset: 'USD',
    baseAccountId: t.accounts.BTC!,
    quoteAccountId: t.accounts.USD!,
    holdAsset: side === 'buy' ? 'USD' : 'BTC',
    holdAmount: holdAmount.toString(),
    makerFeeBps: 10,
    takerFeeBps: 20,
  };
}

async function reserveAndMatch(p: PlannedOrder, workflowId: string) {
  return withTransaction(ctx.pool, 'test-deep-book', async (tx) => {
    const escrow = (await findHouseAccount(tx, p.holdAsset, 'escrow'))!;
    await placeHold(tx, {
      id: p.holdId,
      debitAccountId: p.side === 'buy' ? p.quoteAccountId : p.baseAccountId,
      creditAccountId: escrow.id,
      asset: p.holdAsset,
      amount: BigInt(p.holdAmount),
      workflowId,
    });
    return placeAndMatch(tx, p, workflowId);
  });
}

test('a taker that fills more resting orders than it may wake names MAX_MAKER_WAKEUPS of them; all are settled', async () => {
  const seller = await trader(ctx.pool, { BTC: LOT * BigInt(MAKERS), USD: 0n });
  const buyer = await trader(ctx.pool, { BTC: 0n, USD: USD(1000) });
  const prefix = `deep-maker-${randomUUID().slice(0, 8)}`;
  for (let i = 0; i < MAKERS; i++) {
    const wf = `${prefix}-${i}`;
    await reserveAndMatch(planned(seller, wf, 'sell', LOT, LOT), wf);
  }
  expect(await count(ctx.pool, `SELECT 1 FROM orders WHERE owner = $1 AND status = 'open'`, [seller.owner])).toBe(MAKERS);

  const takerWf = `deep-taker-${randomUUID()}`;
  const quantity = LOT * BigInt(MAKERS);
  const hold = reserveFor({ side: 'buy', price: 10_000n, quantity }, { baseScale: 8, makerFeeBps: 10, takerFeeBps: 20 });
  const taker = planned(buyer, takerWf, 'buy', quantity, hold);
  const matched = await reserveAndMatch(taker, takerWf);
  expect(matched).toMatchObject({ fills: MAKERS, order: { status: 'filled' } });
  expect(matched.makerWorkflowIds).toHaveLength(MAX_MAKER_WAKEUPS);
  expect(JSON.stringify(matched).length).toBeLessThan(100_000);
  expect(await count(ctx.pool, `SELECT 1 FROM orders WHERE owner = $1 AND status = 'filled'`, [seller.owner])).toBe(MAKERS);

  // The match's retry finds the result, named the same way.
  const again = await withTransaction(ctx.pool, 'test-deep-book-retry', (tx) => placeAndMatch(tx, taker, takerWf));
  expect(again.makerWorkflowIds).toHaveLength(MAX_MAKER_WAKEUPS);
  expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
  expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE status = 'open'`)).toBe(0);
}, 600_000);
