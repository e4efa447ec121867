import { z } from 'zod';
import { minorUnits } from './schemas';

/** Trade orders: the saga's input, the order as recorded, and the messages a resting order takes. Pure. */

export const ORDER_SIDES = ['buy', 'sell'] as const;
export const ORDER_TYPES = ['limit', 'market'] as const;
export const TIME_IN_FORCE = ['IOC', 'FOK', 'GTC', 'GTD'] as const;
export const ORDER_STATUSES = ['open', 'filled', 'cancelled', 'expired'] as const;
export type OrderSide = (typeof ORDER_SIDES)[number];
export type TimeInForce = (typeof TIME_IN_FORCE)[number];
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** How long a trade saga retries transient faults before its reserve or match gives up. */
export const TRADE_DEADLINE_MINUTES = 10;
/** A resting order re-reads its order and market this often (the DB is the truth; signals only wake it early). */
export const DEFAULT_RECHECK_SECONDS = 60;

const noNul = (s: string): boolean => !s.includes('\u0000');

export const owner = z
  .string({ error: 'owner must be a string' })
  .trim()
  .min(1, 'owner must not be empty')
  .max(200, 'owner must be at most 200 characters')
  .refine(noNul, 'owner must not contain NUL characters');

export const clientOrderId = z
  .string({ error: 'clientOrderId must be a string' })
  .trim()
  .min(1, 'clientOrderId must not be empty')
  .max(64, 'clientOrderId must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/, 'clientOrderId may hold letters, digits and . _ : - only');

export const marketSymbol = z
  .string({ error: 'market must be a string' })
  .trim()
  .toUpperCase()
  .regex(/^[A-Z][A-Z0-9]{1,11}-[A-Z][A-Z0-9]{1,11}$/, 'market must look like "BTC-USD" (base-quote)');

/** The saga's input: prices and quantities already in minor units (the client converts human decimals). */
export const TradeInput = z
  .object({
    owner,
    clientOrderId,
    market: marketSymbol,
    side: z.enum(ORDER_SIDES, { error: 'side must be "buy" or "sell"' }),
    type: z.enum(ORDER_TYPES, { error: 'type must be "limit" or "market"' }).default('limit'),
    /** Limit price, or a market order's protection: the worst price it accepts. Quote minor units per whole base unit. */
    price: minorUnits,
    /** Base minor units. */
    quantity: minorUnits,
    tif: z.enum(TIME_IN_FORCE, { error: 'tif must be one of IOC, FOK, GTC, GTD' }).default('GTC'),
    /** GTD only: when the resting remainder expires (ISO time). */
    expiresAt: z.iso.datetime({ error: 'expiresAt must be an ISO date-time' }).optional(),
    postOnly: z.boolean({ error: 'postOnly must be true or false' }).default(false),
    /** How often a resting order re-reads its state; mainly for tests. */
    recheckSeconds: z.number().int().min(1).max(3600).optional(),
    /** History events after which a resting order continues as new (default 5,000); mainly for tests. */
    historyLimit: z.number().int().min(100).max(10_000).optional(),
    /** Set by the workflow itself when a resting order continues as new. */
    resume: z.boolean().optional(),
  })
  .strict()
  .refine((o) => o.type === 'limit' || o.tif === 'IOC' || o.tif === 'FOK', {
    message: 'a market order never rests: its tif must be IOC or FOK',
    path: ['tif'],
  })
  .refine((o) => (o.tif === 'GTD') === (o.expiresAt !== undefined), {
    message: 'expiresAt is required for GTD and allowed only for GTD',
    path: ['expiresAt'],
  })
  .refine((o) => !o.postOnly || (o.type === 'limit' && (o.tif === 'GTC' || o.tif === 'GTD')), {
    message: 'postOnly needs a resting limit order (tif GTC or GTD)',
    path: ['postOnly'],
  });
export type TradeInput = z.input<typeof TradeInput>;
export type ParsedTradeInput = z.infer<typeof TradeInput>;

/** A validated order, ready for reserve and match: what the saga carries between steps. */
export interface PlannedOrder {
  orderId: string;
  holdId: string;
  owner: string;
  clientOrderId: string;
  market: string;
  side: OrderSide;
  type: 'limit' | 'market';
  price: string;
  quantity: string;
  tif: TimeInForce;
  expiresAt?: string;
  postOnly: boolean;
  baseAsset: string;
  quoteAsset: string;
  baseAccountId: string;
  quoteAccountId: string;
  /** The asset and amount the hold reserves (minor units). */
  holdAsset: string;
  holdAmount: string;
  /**
   * The market's fee rates (bps) the hold was reserved for; the order pays these on every fill,
   * as taker now and as maker later, whatever the market's fees become. Absent in orders
   * planned before the rates were carried: the market's rates at matching apply then.
   */
  makerFeeBps?: number;
  takerFeeBps?: number;
}

/** An order as a person or program reads it (minor units as strings; views add human decimals). */
export interface OrderState {
  orderId: string;
  owner: string;
  clientOrderId: string;
  market: string;
  side: OrderSide;
  type: 'limit' | 'market';
  price: string;
  quantity: string;
  filled: string;
  status: OrderStatus;
  closeReason: string | null;
  tif: TimeInForce;
  expiresAt: string | null;
  postOnly: boolean;
  workflowId: string;
}

export interface MatchResult {
  order: OrderState;
  /** Fills this order made as the taker, in order. */
  fills: number;
  /** Workflows of the resting orders this match closed (filled, or cancelled by self-trade prevention): each is woken by signal. */
  makerWorkflowIds: string[];
}

/** A cancel reached the workflow before it knew its order was placed (a moment after the commit, or just after continuing as new). */
export const ORDER_NOT_PLACED = 'OrderNotPlaced';

export const CancelOrderRequest = z.object({ owner }).strict();
export type CancelOrderRequest = z.infer<typeof CancelOrderRequest>;

/**
 * At most this many resting orders a match closed are woken by signal: the match's result and
 * the signals stay far below Temporal's 2 MB payload and history limits however deep the book
 * (a match may close tens of thousands of orders). The others see their order closed at their
 * periodic re-read (the database is the truth either way).
 */
export const MAX_MAKER_WAKEUPS = 1_000;

/** Self-trade prevention: a taker that meets a resting order of its own owner cancels that resting order. */
export const SELF_TRADE_REASON = 'self-trade prevention: cancelled by a crossing order of the same owner';
