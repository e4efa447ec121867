import type { PoolClient } from 'pg';
import { DomainError, validationError } from '../domain/errors';
import { stepId } from '../domain/ids';
import { crosses, fillAmounts, settlementLegs } from '../domain/trade-math';
import { MAX_MAKER_WAKEUPS, SELF_TRADE_REASON, type MatchResult, type OrderState, type PlannedOrder } from '../domain/trade';
import { releaseHold } from './ledger';
import { party, settleFill, type Houses } from './settlement';
import { findHouseAccount, lockAccounts } from './queries/accounts';
import { findAssetScale } from './queries/assets';
import { findMarket, type MarketRow } from './queries/config-areas';
import { lockHold } from './queries/holds';
import {
  addFilled,
  bestOpposite,
  closeOrder,
  countTakerFills,
  crossingOrders,
  crossingQuantity,
  findOrder,
  insertFill,
  insertOrder,
  lockMarket,
  lockOrder,
  makerWorkflowsOfTaker,
  nextMarketSequence,
  openOrdersOfMarket,
  orderState,
  type OrderRow,
} from './queries/orders';

/**
 * The matching engine: one order placed and matched, and every fill settled, inside the
 * caller's one database transaction, under the market's advisory lock (two takers never
 * match the same liquidity; different markets match in parallel).
 */

const BATCH = 100;

async function houseId(tx: PoolClient, asset: string, code: string): Promise<string> {
  const a = await findHouseAccount(tx, asset, code);
  if (!a) throw new Error(`no ${code} house account for ${asset}`);
  return a.id;
}

export function activeMarket(market: MarketRow | undefined, symbol: string): MarketRow {
  if (!market) throw validationError(`market: unknown market "${symbol}"`, { field: 'market' });
  if (market.status !== 'active') {
    throw new DomainError('MarketHalted', `market ${symbol} is halted${market.halt_reason ? ` (${market.halt_reason})` : ''}`, {
      field: 'market',
    });
  }
  return market;
}

/** Closes an order that leaves the book and releases what is left of its hold, atomically. */
export async function closeAndRelease(
  tx: PoolClient,
  order: OrderRow,
  status: 'cancelled' | 'expired',
  reason: string,
): Promise<OrderRow> {
  const closed = (await closeOrder(tx, order.id, status, reason)) ?? order;
  await releaseHold(tx, order.hold_id);
  return closed;
}

async function existingResult(tx: PoolClient, row: OrderRow): Promise<MatchResult> {
  return {
    order: orderState(row),
    fills: await countTakerFills(tx, row.id),
    makerWorkflowIds: await makerWorkflowsOfTaker(tx, row.id, MAX_MAKER_WAKEUPS),
  };
}

/** Places the planned order and matches it (price-time priority, the maker's price); idempotent by order id. */
export async function placeAndMatch(tx: PoolClient, p: PlannedOrder, workflowId: string): Promise<MatchResult> {
  await lockMarket(tx, p.market);
  const existing = await findOrder(tx, p.orderId);
  if (existing) return existingResult(tx, existing); // a retry finds the first attempt's result
  const market = activeMarket(await findMarket(tx, p.market), p.market);
  // Locked, not read: a release committing between this check and the insert would leave the
  // order resting on a released hold.
  const hold = await lockHold(tx, p.holdId);
  if (!hold || hold.status !== 'open') {
    // The saga's release ran first (it gave up): this late attempt places nothing.
    throw new DomainError('HoldNotOpen', `hold ${p.holdId} of order ${p.orderId} is not open; the order is not placed`, {
      holdId: p.holdId,
    });
  }
  const price = BigInt(p.price);
  const quantity = BigInt(p.quantity);
  if (p.postOnly) {
    const best = await bestOpposite(tx, p.market, p.side);
    if (best !== undefined && crosses(p.side, price, BigInt(best))) {
      throw validationError(`postOnly: the order at ${p.price} would cross the resting ${best} and take liquidity`, {
        field: 'postOnly',
      });
    }
  }
  // The rates the hold was reserved for (a plan from before they were carried: today's).
  const rates = { makerFeeBps: p.makerFeeBps ?? market.maker_fee_bps, takerFeeBps: p.takerFeeBps ?? market.taker_fee_bps };
  const fok = p.tif === 'FOK' && (await crossingQuantity(tx, p.market, p.side, p.price, p.owner)) < quantity;
  const row = await insertOrder(tx, {
    id: p.orderId,
    market: p.market,
    owner: p.owner,
    clientOrderId: p.clientOrderId,
    side: p.side,
    type: p.type,
    price: p.price,
    quantity: p.quantity,
    tif: p.tif,
    expiresAt: p.expiresAt,
    postOnly: p.postOnly,
    sequence: await nextMarketSequence(tx, p.market),
    baseAccountId: p.baseAccountId,
    quoteAccountId: p.quoteAccountId,
    holdId: p.holdId,
    workflowId,
    ...rates,
  });
  if (!row) {
    throw new DomainError(
      'IdempotencyConflict',
      `clientOrderId: ${p.clientOrderId} of ${p.owner} already names a different order`,
      { field: 'clientOrderId' },
    );
  }
  if (fok) {
    const closed = await closeAndRelease(tx, row, 'cancelled', 'FOK: the book cannot fill the whole quantity');
    return { order: orderState(closed), fills: 0, makerWorkflowIds: [] };
  }

  const baseScale = await findAssetScale(tx, market.base_asset);
  if (baseScale === undefined) throw new Error(`no scale for ${market.base_asset}`);
  const houses: Houses = {
    escrowBase: await houseId(tx, market.base_asset, 'escrow'),
    escrowQuote: await houseId(tx, market.quote_asset, 'escrow'),
    feesQuote: await houseId(tx, market.quote_asset, 'fees'),
  };
  const assets = { base: market.base_asset, quote: market.quote_asset };
  const taker = party(row);
  const makers = new Set<string>();
  let remaining = quantity;
  let fills = 0;
  let after: { price: string; sequence: string } | undefined;
  while (remaining > 0n) {
    const batch = await crossingOrders(tx, p.market, p.side, p.price, BATCH, after);
    if (batch.length === 0) break;
    // Every account this batch may touch, locked once in id order: no deadlock with another market.
    await lockAccounts(tx, [
      taker.baseAccountId,
      taker.quoteAccountId,
      houses.escrowBase,
      houses.escrowQuote,
      houses.feesQuote,
      ...batch.flatMap((m) => [m.base_account_id, m.quote_account_id]),
    ]);
    for (const maker of batch) {
      if (remaining === 0n) break;
      if (maker.owner === p.owner) {
        makers.add(maker.workflow_id);
        await closeAndRelease(tx, maker, 'cancelled', SELF_TRADE_REASON);
        continue;
      }
      const q =
        remaining < BigInt(maker.quantity) - BigInt(maker.filled) ? remaining : BigInt(maker.quantity) - BigInt(maker.filled);
      const makerPrice = BigInt(maker.price);
      // Each side pays the rate of its own order: the taker's now, the maker's from its placement.
      const amounts = fillAmounts(
        makerPrice,
        q,
        { baseScale, makerFeeBps: maker.maker_fee_bps, takerFeeBps: rates.takerFeeBps },
        p.side,
      );
      const fillId = stepId(`${p.orderId}:fill:${maker.id}`);
      const buyer = p.side === 'buy' ? taker : party(maker);
      const seller = p.side === 'buy' ? party(maker) : taker;
      await insertFill(tx, {
        id: fillId,
        tradeId: stepId(`${p.orderId}:trade:${maker.id}`),
        market: p.market,
        takerOrderId: p.orderId,
        makerOrderId: maker.id,
        price: makerPrice,
        quantity: q,
        quoteAmount: amounts.quoteAmount,
        takerFee: p.side === 'buy' ? amounts.buyerFee : amounts.sellerFee,
        makerFee: p.side === 'buy' ? amounts.sellerFee : amounts.buyerFee,
        takerSide: p.side,
      });
      await settleFill(tx, { fillId, quantity: q, buyer, seller, legs: settlementLegs(q, amounts) }, houses, assets, workflowId);
      const updated = await addFilled(tx, maker.id, q);
      if (updated.status === 'filled') {
        await releaseHold(tx, maker.hold_id);
        makers.add(maker.workflow_id);
      }
      remaining -= q;
      fills++;
    }
    if (batch.length < BATCH) break;
    const last = batch[batch.length - 1]!;
    after = { price: last.price, sequence: last.sequence };
  }

  let final = quantity > remaining ? await addFilled(tx, row.id, quantity - remaining) : row;
  if (final.status === 'filled') {
    await releaseHold(tx, row.hold_id);
  } else if (p.type === 'market' || p.tif === 'IOC' || p.tif === 'FOK') {
    final = await closeAndRelease(tx, final, 'cancelled', `${p.type === 'market' ? 'market order' : p.tif}: remainder cancelled`);
  }
  return { order: orderState(final), fills, makerWorkflowIds: [...makers].slice(0, MAX_MAKER_WAKEUPS) };
}

/**
 * Closes a resting order (cancel or expiry) and releases its hold, under the market lock.
 * Returns the order as it is afterwards; one that is no longer open is returned unchanged.
 */
export async function closeRestingOrder(
  tx: PoolClient,
  orderId: string,
  status: 'cancelled' | 'expired',
  reason: string,
  owner?: string,
): Promise<OrderState | undefined> {
  const unlocked = await findOrder(tx, orderId);
  if (!unlocked) return undefined;
  await lockMarket(tx, unlocked.market);
  const order = (await lockOrder(tx, orderId))!;
  if (owner !== undefined && order.owner !== owner) {
    throw validationError(`owner: order ${orderId} belongs to another owner; only its owner may cancel it`, { field: 'owner' });
  }
  if (order.status !== 'open') return orderState(order);
  return orderState(await closeAndRelease(tx, order, status, reason));
}

/** A halted market's resting orders are cancelled and their holds released (in the halt's own transaction). */
export async function cancelOrdersOfHaltedMarket(tx: PoolClient, market: string, reason: string): Promise<number> {
  await lockMarket(tx, market);
  const open = await openOrdersOfMarket(tx, market);
  for (const o of open) await closeAndRelease(tx, o, 'cancelled', `market halted: ${reason}`);
  return open.length;
}
