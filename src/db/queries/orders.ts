import type { Pool, PoolClient } from 'pg';
import { SELF_TRADE_REASON, type OrderSide, type OrderState, type OrderStatus, type TimeInForce } from '../../domain/trade';

type Db = Pool | PoolClient;

export interface OrderRow {
  id: string;
  market: string;
  owner: string;
  client_order_id: string;
  side: OrderSide;
  type: 'limit' | 'market';
  price: string;
  quantity: string;
  filled: string;
  status: OrderStatus;
  close_reason: string | null;
  tif: TimeInForce;
  expires_at: Date | null;
  post_only: boolean;
  sequence: string;
  base_account_id: string;
  quote_account_id: string;
  hold_id: string;
  workflow_id: string;
  /** The fee rates the order was accepted with (its hold covers them). */
  maker_fee_bps: number;
  taker_fee_bps: number;
  created_at: Date;
  updated_at: Date;
  closed_at: Date | null;
}

export const orderState = (r: OrderRow): OrderState => ({
  orderId: r.id,
  owner: r.owner,
  clientOrderId: r.client_order_id,
  market: r.market,
  side: r.side,
  type: r.type,
  price: r.price,
  quantity: r.quantity,
  filled: r.filled,
  status: r.status,
  closeReason: r.close_reason,
  tif: r.tif,
  expiresAt: r.expires_at ? r.expires_at.toISOString() : null,
  postOnly: r.post_only,
  workflowId: r.workflow_id,
});

/** The advisory lock key of a market is hashtextextended(MARKET_LOCK_PREFIX || symbol, 0) (GET /locks names it). */
export const MARKET_LOCK_PREFIX = 'txmgr:market:';

/** Serialises everything that reads or changes a market's book: matching, cancels and halts. */
export async function lockMarket(tx: PoolClient, market: string): Promise<void> {
  await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('${MARKET_LOCK_PREFIX}' || $1, 0))`, [market]);
}

export async function nextMarketSequence(tx: PoolClient, market: string): Promise<string> {
  const { rows } = await tx.query<{ last_sequence: string }>(
    `INSERT INTO market_sequences (market, last_sequence) VALUES ($1, 1)
     ON CONFLICT (market) DO UPDATE SET last_sequence = market_sequences.last_sequence + 1
     RETURNING last_sequence`,
    [market],
  );
  return rows[0]!.last_sequence;
}

export interface NewOrder {
  id: string;
  market: string;
  owner: string;
  clientOrderId: string;
  side: OrderSide;
  type: 'limit' | 'market';
  price: string;
  quantity: string;
  tif: TimeInForce;
  expiresAt?: string;
  postOnly: boolean;
  sequence: string;
  baseAccountId: string;
  quoteAccountId: string;
  holdId: string;
  workflowId: string;
  makerFeeBps: number;
  takerFeeBps: number;
}

/** Inserts an open order; undefined when its id or client order id exists already. */
export async function insertOrder(tx: PoolClient, o: NewOrder): Promise<OrderRow | undefined> {
  const { rows } = await tx.query<OrderRow>(
    `INSERT INTO orders (id, market, owner, client_order_id, side, type, price, quantity, status, tif, expires_at,
       post_only, sequence, base_account_id, quote_account_id, hold_id, workflow_id, maker_fee_bps, taker_fee_bps)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
     ON CONFLICT DO NOTHING
     RETURNING *`,
    [
      o.id,
      o.market,
      o.owner,
      o.clientOrderId,
      o.side,
      o.type,
      o.price,
      o.quantity,
      o.tif,
      o.expiresAt ?? null,
      o.postOnly,
      o.sequence,
      o.baseAccountId,
      o.quoteAccountId,
      o.holdId,
      o.workflowId,
      o.makerFeeBps,
      o.takerFeeBps,
    ],
  );
  return rows[0];
}

export async function findOrder(db: Db, id: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id]);
  return rows[0];
}

export async function lockOrder(tx: PoolClient, id: string): Promise<OrderRow | undefined> {
  const { rows } = await tx.query<OrderRow>('SELECT * FROM orders WHERE id = $1 FOR UPDATE', [id]);
  return rows[0];
}

export async function findOrderByClientId(db: Db, owner: string, clientOrderId: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>('SELECT * FROM orders WHERE owner = $1 AND client_order_id = $2', [
    owner,
    clientOrderId,
  ]);
  return rows[0];
}

/**
 * Resting orders a taker on `takerSide` at `limit` crosses, best price first, then earliest
 * arrival (price-time priority). Locked: the caller holds the market lock anyway.
 */
export async function crossingOrders(
  tx: PoolClient,
  market: string,
  takerSide: OrderSide,
  limit: string,
  max: number,
  afterSequence?: { price: string; sequence: string },
): Promise<OrderRow[]> {
  const buy = takerSide === 'buy';
  const params: unknown[] = [market, buy ? 'sell' : 'buy', limit, max];
  let after = '';
  if (afterSequence) {
    params.push(afterSequence.price, afterSequence.sequence);
    after = buy ? 'AND (price, sequence) > ($5, $6)' : 'AND (price < $5 OR (price = $5 AND sequence > $6))';
  }
  const { rows } = await tx.query<OrderRow>(
    `SELECT * FROM orders
      WHERE market = $1 AND side = $2 AND status = 'open' AND price ${buy ? '<=' : '>='} $3 ${after}
      ORDER BY price ${buy ? 'ASC' : 'DESC'}, sequence ASC
      LIMIT $4
      FOR UPDATE`,
    params,
  );
  return rows;
}

/** Base quantity resting against a taker at `limit`, other owners only (what a FOK can fill). */
export async function crossingQuantity(tx: PoolClient, market: string, takerSide: OrderSide, limit: string, owner: string) {
  const buy = takerSide === 'buy';
  const { rows } = await tx.query<{ q: string }>(
    `SELECT COALESCE(SUM(quantity - filled), 0)::text AS q FROM orders
      WHERE market = $1 AND side = $2 AND status = 'open' AND price ${buy ? '<=' : '>='} $3 AND owner <> $4`,
    [market, buy ? 'sell' : 'buy', limit, owner],
  );
  return BigInt(rows[0]!.q);
}

/** Best resting price on the opposite side (a post-only order must not reach it). */
export async function bestOpposite(db: Db, market: string, takerSide: OrderSide): Promise<string | undefined> {
  const buy = takerSide === 'buy';
  const { rows } = await db.query<{ p: string | null }>(
    `SELECT ${buy ? 'MIN' : 'MAX'}(price)::text AS p FROM orders WHERE market = $1 AND side = $2 AND status = 'open'`,
    [market, buy ? 'sell' : 'buy'],
  );
  return rows[0]?.p ?? undefined;
}

export async function addFilled(tx: PoolClient, id: string, quantity: bigint): Promise<OrderRow> {
  const { rows } = await tx.query<OrderRow>(
    `UPDATE orders SET filled = filled + $2,
       status = CASE WHEN filled + $2 = quantity THEN 'filled' ELSE status END,
       closed_at = CASE WHEN filled + $2 = quantity THEN now() ELSE closed_at END,
       updated_at = now()
     WHERE id = $1 RETURNING *`,
    [id, String(quantity)],
  );
  return rows[0]!;
}

export async function closeOrder(
  tx: PoolClient,
  id: string,
  status: 'cancelled' | 'expired',
  reason: string,
): Promise<OrderRow | undefined> {
  const { rows } = await tx.query<OrderRow>(
    `UPDATE orders SET status = $2, close_reason = $3, closed_at = now(), updated_at = now()
      WHERE id = $1 AND status = 'open' RETURNING *`,
    [id, status, reason],
  );
  return rows[0];
}

export async function openOrdersOfMarket(tx: PoolClient, market: string): Promise<OrderRow[]> {
  const { rows } = await tx.query<OrderRow>(`SELECT * FROM orders WHERE market = $1 AND status = 'open' FOR UPDATE`, [market]);
  return rows;
}

export async function lastTradePrice(db: Db, market: string): Promise<bigint | undefined> {
  const { rows } = await db.query<{ price: string }>('SELECT price FROM trades WHERE market = $1 ORDER BY seq DESC LIMIT 1', [
    market,
  ]);
  return rows[0] ? BigInt(rows[0].price) : undefined;
}

export interface NewFill {
  id: string;
  tradeId: string;
  market: string;
  takerOrderId: string;
  makerOrderId: string;
  price: bigint;
  quantity: bigint;
  quoteAmount: bigint;
  takerFee: bigint;
  makerFee: bigint;
  takerSide: OrderSide;
}

export async function insertFill(tx: PoolClient, f: NewFill): Promise<void> {
  await tx.query(`INSERT INTO trades (id, market, price, quantity, quote_amount, taker_side) VALUES ($1, $2, $3, $4, $5, $6)`, [
    f.tradeId,
    f.market,
    String(f.price),
    String(f.quantity),
    String(f.quoteAmount),
    f.takerSide,
  ]);
  await tx.query(
    `INSERT INTO fills (id, trade_id, market, taker_order_id, maker_order_id, price, quantity, quote_amount, taker_fee, maker_fee)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      f.id,
      f.tradeId,
      f.market,
      f.takerOrderId,
      f.makerOrderId,
      String(f.price),
      String(f.quantity),
      String(f.quoteAmount),
      String(f.takerFee),
      String(f.makerFee),
    ],
  );
}

export async function countTakerFills(db: Db, orderId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM fills WHERE taker_order_id = $1', [orderId]);
  return rows[0]?.n ?? 0;
}

/** Workflows of the resting orders a taker's fills closed (the ones it must wake). */
export async function makerWorkflowsOfTaker(db: Db, orderId: string, limit: number): Promise<string[]> {
  // The makers it filled, and its owner's own orders it cancelled on its way (self-trade prevention
  // closes them in the taker's transaction, so at its now()). Waking one more than needed is harmless.
  const { rows } = await db.query<{ workflow_id: string }>(
    `SELECT DISTINCT workflow_id FROM (
       SELECT o.workflow_id FROM fills f JOIN orders o ON o.id = f.maker_order_id
        WHERE f.taker_order_id = $1 AND o.status <> 'open'
       UNION ALL
       SELECT m.workflow_id FROM orders t
         JOIN orders m ON m.market = t.market AND m.owner = t.owner AND m.id <> t.id
        WHERE t.id = $1 AND m.status = 'cancelled' AND m.close_reason = $3 AND m.closed_at >= t.created_at
     ) makers LIMIT $2`,
    [orderId, limit, SELF_TRADE_REASON],
  );
  return rows.map((r) => r.workflow_id);
}

/** The order a trade workflow placed (undefined before it is placed). */
export async function findOrderOfWorkflow(db: Db, workflowId: string): Promise<OrderRow | undefined> {
  const { rows } = await db.query<OrderRow>('SELECT * FROM orders WHERE workflow_id = $1 ORDER BY created_at LIMIT 1', [
    workflowId,
  ]);
  return rows[0];
}

/** A user account of `owner` in `asset` (the oldest, if several). */
export async function findUserAccountOf(db: Db, ownerName: string, asset: string) {
  const { rows } = await db.query<{ id: string; frozen: boolean }>(
    `SELECT id, frozen FROM accounts WHERE owner = $1 AND asset = $2 AND kind = 'user' ORDER BY created_at, id LIMIT 1`,
    [ownerName, asset],
  );
  return rows[0];
}
