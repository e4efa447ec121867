import type { PoolClient } from 'pg';
import { DomainError, validationError } from '../domain/errors';
import { holdIdFor, stepId } from '../domain/ids';
import { formatAmount, MAX_AMOUNT } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { crosses, reserveFor, withinBand } from '../domain/trade-math';
import { TradeInput, type MatchResult, type OrderState, type PlannedOrder } from '../domain/trade';
import { placeHold, releaseHold } from '../db/ledger';
import { activeMarket, closeRestingOrder, placeAndMatch } from '../db/matching';
import { findHouseAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import { findMarket } from '../db/queries/config-areas';
import {
  bestOpposite,
  findOrder,
  findOrderByClientId,
  findUserAccountOf,
  lastTradePrice,
  lockMarket,
  orderState,
} from '../db/queries/orders';
import { lockHold } from '../db/queries/holds';
import type { ActivityDeps } from './deps';
import { transactional } from './boundary';

/** The fields of a recorded order a resubmission under the same client order id must repeat. */
const SAME_FIELDS = ['market', 'side', 'type', 'price', 'quantity', 'tif', 'postOnly'] as const;

async function userAccount(tx: PoolClient, owner: string, asset: string): Promise<string> {
  const account = await findUserAccountOf(tx, owner, asset);
  if (!account) throw validationError(`owner: ${owner} has no ${asset} account`, { field: 'owner' });
  if (account.frozen)
    throw new DomainError('InvalidState', `owner: the ${asset} account of ${owner} is frozen`, { field: 'owner' });
  return account.id;
}

/** Checks an order against the market and the owner's funds; writes nothing. */
async function planOrder(tx: PoolClient, raw: unknown, workflowId: string): Promise<PlannedOrder> {
  const parsed = TradeInput.safeParse(raw);
  if (!parsed.success)
    throw validationError(`invalid order: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  const o = parsed.data;
  const market = activeMarket(await findMarket(tx, o.market), o.market);
  const [baseScale, quoteScale] = [await findAssetScale(tx, market.base_asset), await findAssetScale(tx, market.quote_asset)];
  const price = BigInt(o.price);
  const quantity = BigInt(o.quantity);
  const q = (v: string | bigint) => `${formatAmount(BigInt(v), baseScale!)} ${market.base_asset}`;
  const px = (v: string | bigint) => `${formatAmount(BigInt(v), quoteScale!)} ${market.quote_asset}`;
  if (price % BigInt(market.tick_size) !== 0n) {
    throw validationError(`price: ${px(price)} is not a multiple of the tick ${px(market.tick_size)}`, { field: 'price' });
  }
  if (quantity % BigInt(market.lot_size) !== 0n) {
    throw validationError(`quantity: ${q(quantity)} is not a multiple of the lot ${q(market.lot_size)}`, { field: 'quantity' });
  }
  if (quantity < BigInt(market.min_quantity) || quantity > BigInt(market.max_quantity)) {
    throw validationError(`quantity: ${q(quantity)} is outside ${q(market.min_quantity)} … ${q(market.max_quantity)}`, {
      field: 'quantity',
    });
  }
  const reference = await lastTradePrice(tx, o.market);
  if (!withinBand(price, reference, market.price_band_bps)) {
    throw validationError(`price: ${px(price)} is more than ${market.price_band_bps} bps from the last trade ${px(reference!)}`, {
      field: 'price',
    });
  }
  if (o.expiresAt !== undefined && Date.parse(o.expiresAt) <= Date.now()) {
    throw validationError(`expiresAt: ${o.expiresAt} is in the past`, { field: 'expiresAt' });
  }
  if (o.postOnly) {
    const best = await bestOpposite(tx, o.market, o.side);
    if (best !== undefined && crosses(o.side, price, BigInt(best))) {
      throw validationError(`postOnly: the order at ${px(price)} would cross the resting ${px(best)}`, { field: 'postOnly' });
    }
  }
  const fees = { baseScale: baseScale!, makerFeeBps: market.maker_fee_bps, takerFeeBps: market.taker_fee_bps };
  const holdAmount = reserveFor({ side: o.side, price, quantity }, fees);
  if (holdAmount <= 0n || holdAmount > MAX_AMOUNT) {
    throw validationError(`quantity: the order's notional ${holdAmount} is out of range`, { field: 'quantity' });
  }
  const baseAccountId = await userAccount(tx, o.owner, market.base_asset);
  const quoteAccountId = await userAccount(tx, o.owner, market.quote_asset);
  const orderId = stepId(`${workflowId}:order`);
  const recorded = await findOrderByClientId(tx, o.owner, o.clientOrderId);
  if (recorded && recorded.id !== orderId) {
    throw new DomainError('IdempotencyConflict', `clientOrderId: ${o.clientOrderId} of ${o.owner} names another order`, {
      field: 'clientOrderId',
    });
  }
  if (recorded) {
    const now = orderState(recorded);
    const differs = SAME_FIELDS.find((f) => String(now[f]) !== String(o[f]));
    if (differs) {
      throw new DomainError('IdempotencyConflict', `clientOrderId: ${o.clientOrderId} was placed with a different ${differs}`, {
        field: differs,
      });
    }
  }
  return {
    orderId,
    holdId: holdIdFor(`${workflowId}:reserve`),
    owner: o.owner,
    clientOrderId: o.clientOrderId,
    market: o.market,
    side: o.side,
    type: o.type,
    price: o.price,
    quantity: o.quantity,
    tif: o.tif,
    expiresAt: o.expiresAt,
    postOnly: o.postOnly,
    baseAsset: market.base_asset,
    quoteAsset: market.quote_asset,
    baseAccountId,
    quoteAccountId,
    holdAsset: o.side === 'buy' ? market.quote_asset : market.base_asset,
    holdAmount: holdAmount.toString(),
    makerFeeBps: market.maker_fee_bps,
    takerFeeBps: market.taker_fee_bps,
  };
}

const ownerOf = (workflowId: string | undefined): string => {
  if (!workflowId) throw new Error('trade activities run inside a trade workflow');
  return workflowId;
};

export function createTradeActivities(deps: ActivityDeps) {
  return {
    validateTrade: transactional(deps, 'validateTrade', (raw: unknown, tx, scope) =>
      planOrder(tx, raw, ownerOf(scope.workflowId)),
    ),

    /** The hold: a buy reserves quote (notional plus the most fee), a sell its base, into escrow. */
    reserveTradeFunds: transactional(deps, 'reserveTradeFunds', async (p: PlannedOrder, tx, scope) => {
      const escrow = await findHouseAccount(tx, p.holdAsset, 'escrow');
      if (!escrow) throw new Error(`no escrow house account for ${p.holdAsset}`);
      const { row } = await placeHold(tx, {
        id: p.holdId,
        debitAccountId: p.side === 'buy' ? p.quoteAccountId : p.baseAccountId,
        creditAccountId: escrow.id,
        asset: p.holdAsset,
        amount: BigInt(p.holdAmount),
        workflowId: scope.workflowId,
        step: `trade-reserve:${p.orderId}`,
      });
      return { holdId: row.id };
    }),

    /** Places and matches in one transaction: fills, their settlement, the taker's final status. */
    placeAndMatchOrder: transactional(deps, 'placeAndMatchOrder', (p: PlannedOrder, tx, scope): Promise<MatchResult> =>
      placeAndMatch(tx, p, ownerOf(scope.workflowId)),
    ),

    /**
     * The reserve step's fenced inverse: cancels the order if it rests and releases the hold
     * (a tombstone when it was never placed), so a late reserve or match attempt does nothing.
     */
    releaseTradeFunds: transactional(
      deps,
      'releaseTradeFunds',
      async (i: { orderId: string; holdId: string; reason: string; market?: string }, tx) => {
        // Fence a match still in flight (an abandoned attempt): wait for it under the market's
        // lock, so an order it placed is seen and cancelled here, not left resting on a released
        // hold. Inputs recorded before `market` was passed fence on the hold's row lock instead.
        if (i.market !== undefined) await lockMarket(tx, i.market);
        else await lockHold(tx, i.holdId);
        const order = await closeRestingOrder(tx, i.orderId, 'cancelled', i.reason.slice(0, 500));
        const { released } = await releaseHold(tx, i.holdId);
        return { order, released: released.toString() };
      },
    ),

    /** The order as recorded; a resting order of a market halted without its cancels is cancelled now. */
    readOrder: transactional(deps, 'readOrder', async (orderId: string, tx): Promise<OrderState> => {
      const row = await findOrder(tx, orderId);
      if (!row) throw new DomainError('NotFound', `order ${orderId} does not exist`);
      if (row.status === 'open') {
        const market = await findMarket(tx, row.market);
        if (market?.status !== 'active') {
          return (await closeRestingOrder(tx, orderId, 'cancelled', `market halted: ${market?.halt_reason ?? 'halted'}`))!;
        }
      }
      return orderState(row);
    }),

    /** Cancels (by its owner) or expires a resting order and releases its hold; the order as it ends. */
    closeOrder: transactional(
      deps,
      'closeOrder',
      async (i: { orderId: string; status: 'cancelled' | 'expired'; reason: string; owner?: string }, tx) => {
        const order = await closeRestingOrder(tx, i.orderId, i.status, i.reason.slice(0, 500), i.owner);
        if (!order) throw new DomainError('NotFound', `order ${i.orderId} does not exist`);
        return order;
      },
    ),
  };
}
