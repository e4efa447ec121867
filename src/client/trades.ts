import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { DomainError, validationError } from '../domain/errors';
import { stepId } from '../domain/ids';
import { formatAmount, parseHumanAmount } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import {
  clientOrderId,
  marketSymbol,
  ORDER_NOT_PLACED,
  ORDER_SIDES,
  ORDER_TYPES,
  owner,
  TIME_IN_FORCE,
  TradeInput,
  type OrderState,
} from '../domain/trade';
import { findAssetScale } from '../db/queries/assets';
import { findMarket, type MarketRow } from '../db/queries/config-areas';
import { findOrder, findOrderByClientId, orderState } from '../db/queries/orders';
import { cancelOrderUpdate, executeTrade as executeTradeWorkflow } from '../workflows';

/** Trades for people and programs: orders in human decimals, the book, the tape. Reads go to PostgreSQL. */

export { getBook, listTrades, type BookLevel, type TradeView } from './book';

export interface TradeClientDeps {
  temporal: Client;
  pool: Pool;
  taskQueue: string;
}

/** An order as a person types it: quantity in the base asset, price in the quote asset per one base unit. */
export const TradeRequest = z
  .object({
    owner,
    market: marketSymbol,
    side: z.enum(ORDER_SIDES, { error: 'side must be "buy" or "sell"' }),
    type: z.enum(ORDER_TYPES, { error: 'type must be "limit" or "market"' }).optional(),
    quantity: z.string({ error: 'quantity must be a decimal string such as "0.5"' }),
    /** Limit price, or a market order's worst acceptable price (its protection). */
    price: z.string({ error: 'price must be a decimal string such as "50000.00"' }),
    tif: z.enum(TIME_IN_FORCE, { error: 'tif must be one of IOC, FOK, GTC, GTD' }).optional(),
    postOnly: z.boolean({ error: 'postOnly must be true or false' }).optional(),
    expiresAt: z.string({ error: 'expiresAt must be an ISO date-time' }).optional(),
    /** Default: a fresh one; pass your own to make a resubmission return the first order. */
    clientOrderId: clientOrderId.optional(),
    recheckSeconds: z.number().int().min(1).max(3600).optional(),
    historyLimit: z.number().int().min(100).max(10_000).optional(),
  })
  .strict();
export type TradeRequest = z.input<typeof TradeRequest>;

export interface MarketScales {
  market: MarketRow;
  baseScale: number;
  quoteScale: number;
}

export interface OrderView extends OrderState {
  /** Human decimals with the asset ("0.50000000 BTC", "50000.00 USD"). */
  priceDisplay: string;
  quantityDisplay: string;
  filledDisplay: string;
}

/** One workflow per owner and client order id: a resubmission joins the first. */
export const tradeWorkflowId = (ownerName: string, clientId: string): string =>
  `trade-${stepId(JSON.stringify(['trade', ownerName.trim(), clientId.trim()]))}`;

export async function marketScales(db: Pool, symbol: string): Promise<MarketScales> {
  const market = await findMarket(db, symbol.trim().toUpperCase());
  if (!market) throw validationError(`market: unknown market "${symbol}"`, { field: 'market' });
  const baseScale = await findAssetScale(db, market.base_asset);
  const quoteScale = await findAssetScale(db, market.quote_asset);
  return { market, baseScale: baseScale!, quoteScale: quoteScale! };
}

export function orderView(o: OrderState, m: MarketScales): OrderView {
  const base = (v: string) => `${formatAmount(BigInt(v), m.baseScale)} ${m.market.base_asset}`;
  return {
    ...o,
    priceDisplay: `${formatAmount(BigInt(o.price), m.quoteScale)} ${m.market.quote_asset}`,
    quantityDisplay: base(o.quantity),
    filledDisplay: base(o.filled),
  };
}

/** Checks and converts a human order; throws a typed error naming the field before anything starts. */
export async function prepareTrade(db: Pool, request: TradeRequest): Promise<TradeInput> {
  const parsed = TradeRequest.safeParse(request);
  if (!parsed.success)
    throw validationError(`invalid order: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  const r = parsed.data;
  const m = await marketScales(db, r.market);
  if (m.market.status !== 'active') throw new DomainError('MarketHalted', `market: ${r.market} is halted`, { field: 'market' });
  const input = {
    owner: r.owner,
    clientOrderId: r.clientOrderId ?? randomUUID(),
    market: m.market.symbol,
    side: r.side,
    type: r.type ?? 'limit',
    price: parseHumanAmount(r.price, m.quoteScale, 'price').toString(),
    quantity: parseHumanAmount(r.quantity, m.baseScale, 'quantity').toString(),
    tif: r.tif ?? (r.type === 'market' ? 'IOC' : 'GTC'),
    expiresAt: r.expiresAt,
    postOnly: r.postOnly ?? false,
    recheckSeconds: r.recheckSeconds,
    historyLimit: r.historyLimit,
  };
  const checked = TradeInput.safeParse(input);
  if (!checked.success)
    throw validationError(`invalid order: ${describeIssues(checked.error)}`, { field: issueField(checked.error) });
  return input;
}

/** Starts the trade saga, or joins the one already running under the same client order id. */
export async function startTrade(
  deps: TradeClientDeps,
  request: TradeRequest,
): Promise<{ workflowId: string; started: boolean; input: TradeInput }> {
  const input = await prepareTrade(deps.pool, request);
  const workflowId = tradeWorkflowId(input.owner, input.clientOrderId);
  const side = input.side === 'buy' ? 'buy' : 'sell';
  try {
    await deps.temporal.workflow.start(executeTradeWorkflow, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `${input.owner} ${side}s ${request.quantity} on ${input.market} at ${request.price} (${input.tif})`,
    });
    return { workflowId, started: true, input };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    const recorded = await findOrderByClientId(deps.pool, input.owner, input.clientOrderId);
    if (recorded) {
      const now = orderState(recorded);
      const differs = (['market', 'side', 'type', 'price', 'quantity', 'tif'] as const).find((f) => now[f] !== input[f]);
      if (differs) {
        throw new DomainError(
          'IdempotencyConflict',
          `clientOrderId: ${input.clientOrderId} was placed with a different ${differs}`,
          {
            field: differs,
          },
        );
      }
    }
    return { workflowId, started: false, input };
  }
}

/** Runs a trade: returns the order once it is final (a resting order once filled, cancelled or expired). */
export async function executeTrade(deps: TradeClientDeps, request: TradeRequest): Promise<OrderView> {
  const { workflowId, input } = await startTrade(deps, request);
  const state = await deps.temporal.workflow.getHandle<typeof executeTradeWorkflow>(workflowId).result();
  return orderView(state, await marketScales(deps.pool, input.market));
}

/**
 * Starts the trade and returns the order once it is placed (a resting order is then on the
 * book; its saga goes on). A saga that fails first throws its failure.
 */
export async function placeTrade(deps: TradeClientDeps, request: TradeRequest, timeoutMs = 30_000): Promise<OrderView> {
  const { workflowId, input } = await startTrade(deps, request);
  const handle = deps.temporal.workflow.getHandle<typeof executeTradeWorkflow>(workflowId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await findOrderByClientId(deps.pool, input.owner, input.clientOrderId);
    if (row) return orderView(orderState(row), await marketScales(deps.pool, row.market));
    if ((await handle.describe()).status.name !== 'RUNNING') {
      return orderView(await handle.result(), await marketScales(deps.pool, input.market));
    }
    if (Date.now() > deadline) {
      throw new DomainError(
        'InvalidState',
        `order ${input.clientOrderId} was not placed within ${timeoutMs / 1000}s; its saga ${workflowId} goes on`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The order with this id, in human decimals; undefined when there is none. */
export async function getOrder(db: Pool, orderId: string): Promise<OrderView | undefined> {
  const id = z.uuid({ error: 'orderId must be a UUID' }).safeParse(orderId.trim().toLowerCase());
  if (!id.success) throw validationError(`orderId: ${id.error.issues[0]?.message ?? 'must be a UUID'}`, { field: 'orderId' });
  const row = await findOrder(db, id.data);
  return row ? orderView(orderState(row), await marketScales(db, row.market)) : undefined;
}

/** Cancels a resting order by its update; only its owner, only while open. Returns the final order. */
export async function cancelOrder(deps: TradeClientDeps, orderId: string, ownerName: string): Promise<OrderView> {
  const order = await getOrder(deps.pool, orderId);
  if (!order) throw new DomainError('NotFound', `orderId: order ${orderId} does not exist`, { field: 'orderId' });
  if (order.owner !== ownerName.trim()) {
    throw validationError(`owner: order ${order.orderId} belongs to another owner; only its owner may cancel it`, {
      field: 'owner',
    });
  }
  if (order.status !== 'open') {
    throw new DomainError(
      'InvalidState',
      `orderId: order ${order.orderId} is ${order.status}; only an open order can be cancelled`,
      {
        field: 'orderId',
      },
    );
  }
  const deadline = Date.now() + NOT_PLACED_PATIENCE_MS;
  for (;;) {
    try {
      const final = await deps.temporal.workflow
        .getHandle(order.workflowId)
        .executeUpdate(cancelOrderUpdate, { args: [{ owner: ownerName.trim() }] });
      return orderView(final, await marketScales(deps.pool, final.market));
    } catch (err) {
      if (!(err instanceof WorkflowUpdateFailedError)) throw err;
      // The book shows the order open but its workflow has not heard yet: ask again shortly.
      const notPlaced = err.cause instanceof ApplicationFailure && err.cause.type === ORDER_NOT_PLACED;
      if (notPlaced && Date.now() < deadline && (await findOrder(deps.pool, order.orderId))?.status === 'open') {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const message = err.cause?.message ?? err.message;
      throw new DomainError('InvalidState', `orderId: ${message}`, { field: 'orderId' });
    }
  }
}

/** How long a cancel waits for the workflow of an order the book already shows to hear of it. */
const NOT_PLACED_PATIENCE_MS = 30_000;
