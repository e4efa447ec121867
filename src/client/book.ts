import type { Pool } from 'pg';
import { formatAmount } from '../domain/money';
import { marketScales } from './trades';

/** A market's book (depth per price level) and its tape (latest trades), in human decimals. */

export interface BookLevel {
  price: string;
  priceDisplay: string;
  quantity: string;
  quantityDisplay: string;
  orders: number;
}

/** Aggregated depth: bids best (highest) first, asks best (lowest) first. */
export async function getBook(
  db: Pool,
  market: string,
  depth = 10,
): Promise<{ market: string; bids: BookLevel[]; asks: BookLevel[] }> {
  const m = await marketScales(db, market);
  const { rows } = await db.query<{ side: 'buy' | 'sell'; price: string; quantity: string; orders: number }>(
    `SELECT side, price::text, SUM(quantity - filled)::text AS quantity, COUNT(*)::int AS orders
       FROM orders WHERE market = $1 AND status = 'open' GROUP BY side, price`,
    [m.market.symbol],
  );
  const level = (r: (typeof rows)[number]): BookLevel => ({
    price: r.price,
    priceDisplay: formatAmount(BigInt(r.price), m.quoteScale),
    quantity: r.quantity,
    quantityDisplay: formatAmount(BigInt(r.quantity), m.baseScale),
    orders: r.orders,
  });
  const cmp = (a: { price: string }, b: { price: string }) => (BigInt(a.price) < BigInt(b.price) ? -1 : 1);
  const bids = rows
    .filter((r) => r.side === 'buy')
    .sort((a, b) => cmp(b, a))
    .slice(0, depth)
    .map(level);
  const asks = rows
    .filter((r) => r.side === 'sell')
    .sort(cmp)
    .slice(0, depth)
    .map(level);
  return { market: m.market.symbol, bids, asks };
}

export interface TradeView {
  tradeId: string;
  price: string;
  priceDisplay: string;
  quantity: string;
  quantityDisplay: string;
  quoteAmount: string;
  quoteAmountDisplay: string;
  takerSide: 'buy' | 'sell';
  at: string;
}

/** The market's latest trades, newest first. */
export async function listTrades(db: Pool, market: string, limit = 50): Promise<TradeView[]> {
  const m = await marketScales(db, market);
  const { rows } = await db.query<{
    id: string;
    price: string;
    quantity: string;
    quote_amount: string;
    taker_side: 'buy' | 'sell';
    created_at: Date;
  }>('SELECT * FROM trades WHERE market = $1 ORDER BY seq DESC LIMIT $2', [m.market.symbol, Math.max(1, Math.min(limit, 1000))]);
  return rows.map((r) => ({
    tradeId: r.id,
    price: r.price,
    priceDisplay: `${formatAmount(BigInt(r.price), m.quoteScale)} ${m.market.quote_asset}`,
    quantity: r.quantity,
    quantityDisplay: `${formatAmount(BigInt(r.quantity), m.baseScale)} ${m.market.base_asset}`,
    quoteAmount: r.quote_amount,
    quoteAmountDisplay: `${formatAmount(BigInt(r.quote_amount), m.quoteScale)} ${m.market.quote_asset}`,
    takerSide: r.taker_side,
    at: r.created_at.toISOString(),
  }));
}
