import { performance } from 'node:perf_hooks';
import type { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { cancelOrder, startTrade, type TradeClientDeps, type TradeRequest } from '../../src/client/trades';
import { findOrderByClientId } from '../../src/db/queries/orders';
import type { OrderState } from '../../src/domain/trade';
import { executeTrade } from '../../src/workflows';
import { trader, type Trader } from './trade-fixtures';

/**
 * The 200-taker workload (test and bench): a seeded book on two markets, then many IOC takers
 * at once against it, half buying, half selling. Returns what it measured.
 */

interface MarketPlan {
  symbol: string;
  base: string;
  quote: string;
  /** Whole-unit price of the book's middle, and the taker's quantity unit (one lot, as a decimal). */
  mid: number;
  lot: string;
  baseFunds: bigint;
  quoteFunds: bigint;
}

export const WORKLOAD_MARKETS: MarketPlan[] = [
  { symbol: 'BTC-USD', base: 'BTC', quote: 'USD', mid: 100, lot: '0.0001', baseFunds: 10n ** 8n * 10n, quoteFunds: 10_000_00n },
  { symbol: 'ETH-EUR', base: 'ETH', quote: 'EUR', mid: 2000, lot: '0.001', baseFunds: 10n ** 18n * 10n, quoteFunds: 100_000_00n },
];

const lots = (lot: string, n: number): string => {
  const decimals = lot.split('.')[1]!.length;
  const minor = BigInt(lot.replace('.', '').replace(/^0+/, '')) * BigInt(n);
  const text = minor.toString().padStart(decimals + 1, '0');
  return `${text.slice(0, -decimals)}.${text.slice(-decimals)}`;
};

async function waitOpen(pool: Pool, owner: string, clientOrderId: string): Promise<void> {
  for (;;) {
    if ((await findOrderByClientId(pool, owner, clientOrderId))?.status === 'open') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface SeededBook {
  makers: Array<{ owner: string; workflowId: string; clientOrderId: string }>;
}

/** Per market ten asks above and ten bids below the middle, each 500 lots, from twenty makers. */
export async function seedBook(pool: Pool, client: TradeClientDeps, markets = WORKLOAD_MARKETS): Promise<SeededBook> {
  const makers: SeededBook['makers'] = [];
  await Promise.all(
    markets.flatMap((m) =>
      Array.from({ length: 20 }, async (_, i) => {
        const t = await trader(pool, { [m.base]: m.baseFunds, [m.quote]: m.quoteFunds });
        const sell = i % 2 === 0;
        const level = Math.floor(i / 2) + 1; // 1..10
        const request: TradeRequest = {
          owner: t.owner,
          market: m.symbol,
          side: sell ? 'sell' : 'buy',
          quantity: lots(m.lot, 500),
          price: `${sell ? m.mid + level : m.mid - level}.00`,
          clientOrderId: `maker-${randomUUID().slice(0, 12)}`,
        };
        const started = await startTrade(client, request);
        await waitOpen(pool, t.owner, request.clientOrderId!);
        makers.push({ owner: t.owner, workflowId: started.workflowId, clientOrderId: request.clientOrderId! });
      }),
    ),
  );
  return { makers };
}

export async function makeTakers(
  pool: Pool,
  n: number,
  markets = WORKLOAD_MARKETS,
): Promise<Array<Trader & { market: MarketPlan }>> {
  const out: Array<Trader & { market: MarketPlan }> = [];
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, n - i) }, async (_, j) => {
        const m = markets[(i + j) % markets.length]!;
        return { ...(await trader(pool, { [m.base]: m.baseFunds, [m.quote]: m.quoteFunds })), market: m };
      }),
    );
    out.push(...batch);
  }
  return out;
}

export interface TakerRun {
  results: OrderState[];
  wallMs: number;
  latenciesMs: number[];
}

/** Starts every taker at once (IOC, 1–60 lots, crossing up to five levels) and waits for all of them. */
export async function runTakers(client: TradeClientDeps, takers: Array<Trader & { market: MarketPlan }>): Promise<TakerRun> {
  const started = performance.now();
  const latenciesMs: number[] = [];
  const results = await Promise.all(
    takers.map(async (t, i) => {
      const begin = performance.now();
      const buy = i % 4 < 2;
      const { workflowId } = await startTrade(client, {
        owner: t.owner,
        market: t.market.symbol,
        side: buy ? 'buy' : 'sell',
        quantity: lots(t.market.lot, 1 + ((i * 37) % 60)),
        price: `${buy ? t.market.mid + 5 : t.market.mid - 5}.00`,
        tif: 'IOC',
        clientOrderId: `taker-${i}-${randomUUID().slice(0, 8)}`,
      });
      const r = await client.temporal.workflow.getHandle<typeof executeTrade>(workflowId).result();
      latenciesMs.push(performance.now() - begin);
      return r;
    }),
  );
  return { results, wallMs: performance.now() - started, latenciesMs };
}

/** Cancels what is left of the seeded book and waits for the makers' workflows to end. */
export async function clearBook(pool: Pool, client: TradeClientDeps, book: SeededBook): Promise<OrderState[]> {
  return Promise.all(
    book.makers.map(async (m) => {
      const row = await findOrderByClientId(pool, m.owner, m.clientOrderId);
      // A maker filled between the read and the cancel answers InvalidState: it ended anyway.
      if (row?.status === 'open') await cancelOrder(client, row.id, m.owner).catch(() => undefined);
      return client.temporal.workflow.getHandle<typeof executeTrade>(m.workflowId).result();
    }),
  );
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** Matching transaction durations (ms) recorded in transaction_metrics since `since`. */
export async function matchDurations(pool: Pool, since: Date): Promise<number[]> {
  const { rows } = await pool.query<{ d: number }>(
    `SELECT duration_ms::float8 AS d FROM transaction_metrics WHERE operation = 'placeAndMatchOrder' AND success AND created_at >= $1`,
    [since],
  );
  return rows.map((r) => r.d);
}
