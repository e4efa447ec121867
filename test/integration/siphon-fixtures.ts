import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Client } from '@temporalio/client';
import type { ConfigTransactionInput, SiphonTarget } from '../../src/client/config';
import type { ConfigSiphonInput } from '../../src/workflows';
import { formatAmount } from '../../src/domain/money';
import { eventually } from '../helpers/context';

/** A siphon of its own per test: tests share one Temporal namespace. */
export function siphonTarget(client: Client, taskQueue: string, siphonInput?: ConfigSiphonInput): SiphonTarget {
  return { client, taskQueue, workflowId: `config-siphon-${randomUUID().slice(0, 8)}`, siphonInput };
}

/** The seeded assets' scales (migrations/…_ledger.sql). */
export const SCALES: Record<string, number> = { USD: 2, EUR: 2, BTC: 8, ETH: 18 };

/** Minor units as the human decimal a config file carries ("105" USD → "1.05"). */
export const human = (minor: number | string, asset: string): string => formatAmount(BigInt(minor), SCALES[asset]!);

/**
 * A valid transaction whose effect is easy to read back: the review threshold, given in minor
 * units (what compliance_settings stores) and written to the payload as a human amount.
 */
export function thresholdTx(id: string, threshold: number | string, asset = 'USD'): ConfigTransactionInput {
  return { id, kind: 'compliance.thresholds', payload: { thresholds: [{ asset, reviewThreshold: human(threshold, asset) }] } };
}

/** Valid by schema, refused by the current config: no such market. */
export function haltUnknownMarketTx(id: string): ConfigTransactionInput {
  return { id, kind: 'markets.status', payload: { symbol: 'EUR-ETH', status: 'halted', reason: 'test' } };
}

export function marketTx(id: string, symbol = 'BTC-USD'): ConfigTransactionInput {
  const [baseAsset, quoteAsset] = symbol.split('-');
  return {
    id,
    kind: 'markets.upsert',
    payload: {
      markets: [
        {
          symbol,
          baseAsset,
          quoteAsset,
          tickSize: human(1, quoteAsset!),
          lotSize: human(1000, baseAsset!),
          minQuantity: human(1000, baseAsset!),
          maxQuantity: human(1_000_000_000, baseAsset!),
          priceBandBps: 500,
          makerFeeBps: 10,
          takerFeeBps: 20,
        },
      ],
    },
  };
}

export interface TxRow {
  id: string;
  sequence: number;
  status: 'pending' | 'applied' | 'failed';
  error: string | null;
  config_version: number | null;
}

/** Transactions with these ids, in sequence order. */
export async function rowsFor(pool: Pool, ids: string[]): Promise<TxRow[]> {
  const { rows } = await pool.query<TxRow>(
    `SELECT id, sequence::float8 AS sequence, status, error, config_version::float8 AS config_version
     FROM config_transactions WHERE id = ANY($1) ORDER BY sequence`,
    [ids],
  );
  return rows;
}

/** Waits until every id is applied or failed. */
export async function settled(pool: Pool, ids: string[], timeoutMs = 90_000): Promise<TxRow[]> {
  await eventually(async () => {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM config_transactions WHERE id = ANY($1) AND status <> 'pending'`,
      [ids],
    );
    return rows[0]!.n === ids.length;
  }, timeoutMs);
  return rowsFor(pool, ids);
}

/** Sequences with no gap and no repeat. */
export function expectContiguous(rows: TxRow[]): void {
  const first = rows[0]?.sequence ?? 0;
  expect(rows.map((r) => r.sequence)).toEqual(rows.map((_, i) => first + i));
}

/**
 * Holds the config_state row lock from a connection of the test's own, so the
 * worker's apply blocks inside its database transaction.
 */
export async function holdConfigLock(pool: Pool): Promise<PoolClient> {
  const lock = await pool.connect();
  await lock.query('BEGIN');
  await lock.query('SELECT 1 FROM config_state FOR UPDATE');
  return lock;
}

export async function releaseLock(lock: PoolClient): Promise<void> {
  await lock.query('ROLLBACK');
  lock.release();
}

/** The backend of an apply that waits for our lock, with a statement started after `since` (database clock). */
export async function blockedApplyBackend(pool: Pool, since?: string): Promise<number> {
  let pid: number | undefined;
  await eventually(async () => {
    const { rows } = await pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'
         AND query ILIKE '%config_state%FOR UPDATE%' AND ($1::timestamptz IS NULL OR query_start > $1)`,
      [since ?? null],
    );
    pid = rows[0]?.pid;
    return pid !== undefined;
  }, 60_000);
  return pid!;
}
