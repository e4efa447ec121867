import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { applyConfig, type ConfigTransactionInput } from '../../src/client/config';
import { checkTradeInvariants } from '../../src/db/invariants-trade';
import { postTransfer } from '../../src/db/ledger';
import { withTransaction } from '../../src/db/transaction';
import { transferIdFor } from '../../src/domain/ids';
import type { TestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import { siphonTarget } from './siphon-fixtures';

/** Markets for trade tests: tick 0.05, fees 10 bps maker / 20 bps taker, a wide price band. */
export function tradeMarketsTx(): ConfigTransactionInput {
  const market = (baseAsset: string, quoteAsset: string, lot: string, max: string) => ({
    symbol: `${baseAsset}-${quoteAsset}`,
    baseAsset,
    quoteAsset,
    tickSize: '0.05',
    lotSize: lot,
    minQuantity: lot,
    maxQuantity: max,
    priceBandBps: 10_000,
    makerFeeBps: 10,
    takerFeeBps: 20,
  });
  return {
    id: `trade-markets-${randomUUID()}`,
    kind: 'markets.upsert',
    payload: { markets: [market('BTC', 'USD', '0.0001', '100'), market('ETH', 'EUR', '0.001', '1000')] },
  };
}

/** Applies a config transaction through a siphon of the test's own (a worker must serve `taskQueue`). */
export async function applyTestConfig(ctx: TestContext, taskQueue: string, workflowId: string, tx: ConfigTransactionInput) {
  const target = { ...siphonTarget(ctx.temporal, taskQueue), workflowId, pool: ctx.pool };
  const outcome = await applyConfig(target, tx);
  if (outcome.status !== 'applied') throw new Error(`config ${tx.kind} not applied: ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Credits an account from the external bank (test funding). */
export async function fund(pool: Pool, accountId: string, asset: string, amount: bigint): Promise<void> {
  await withTransaction(pool, 'test-fund', async (tx) => {
    const { rows } = await tx.query<{ id: string }>(`SELECT id FROM accounts WHERE asset = $1 AND code = 'external_bank'`, [
      asset,
    ]);
    await postTransfer(tx, {
      id: transferIdFor(`test-fund:${accountId}:${randomUUID()}`),
      debitAccountId: rows[0]!.id,
      creditAccountId: accountId,
      asset,
      amount,
    });
  });
}

export interface Trader {
  owner: string;
  accounts: Record<string, string>;
}

/** An owner with a funded account per asset. */
export async function trader(pool: Pool, funds: Record<string, bigint>): Promise<Trader> {
  const owner = `trader-${randomUUID().slice(0, 8)}`;
  const accounts: Record<string, string> = {};
  for (const [asset, amount] of Object.entries(funds)) {
    accounts[asset] = await openUserAccount(pool, asset, owner);
    if (amount > 0n) await fund(pool, accounts[asset], asset, amount);
  }
  return { owner, accounts };
}

export async function balanceOf(pool: Pool, accountId: string): Promise<{ balance: bigint; pending: bigint }> {
  const { rows } = await pool.query<{ b: string; p: string }>(
    'SELECT (credits_posted - debits_posted)::text AS b, debits_pending::text AS p FROM accounts WHERE id = $1',
    [accountId],
  );
  return { balance: BigInt(rows[0]!.b), pending: BigInt(rows[0]!.p) };
}

export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowFailedError)) throw err ?? new Error('expected the workflow to fail');
  if (!(err.cause instanceof ApplicationFailure)) throw err;
  return err.cause;
}

export const BTC = (v: number | string) => BigInt(Math.round(Number(v) * 1e4)) * 10_000n; // 8 decimals, from up to 4
export const USD = (v: number | string) => BigInt(Math.round(Number(v) * 100));

/**
 * Stops every worker of this database right after a transaction commits and before it reports.
 * A committed transaction's metrics row is written inside it, just before COMMIT: while paused,
 * that insert is refused (the work commits without it, as withTransaction allows), and the row it
 * then writes on its own after COMMIT waits for the pause's lock. Install before the scenario
 * (it takes a table lock), then `pause()`; `end()` lets the workers go on.
 */
export async function installCommitPause(pool: Pool): Promise<{ pause(): Promise<{ end(): Promise<void> }> }> {
  await pool.query(`CREATE TABLE IF NOT EXISTS test_commit_pause (paused boolean NOT NULL);
    INSERT INTO test_commit_pause SELECT false WHERE NOT EXISTS (SELECT 1 FROM test_commit_pause);
    CREATE OR REPLACE FUNCTION test_commit_pause() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT (SELECT paused FROM test_commit_pause LIMIT 1) THEN RETURN NEW; END IF;
      IF coalesce(current_setting('txmgr.hlc', true), '') <> '' THEN
        RAISE EXCEPTION 'metrics row refused inside the transaction by a test pause';
      END IF;
      PERFORM pg_advisory_xact_lock(hashtextextended('test:commit-pause', 0));
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS test_commit_pause ON transaction_metrics;
    CREATE TRIGGER test_commit_pause BEFORE INSERT ON transaction_metrics
      FOR EACH ROW EXECUTE FUNCTION test_commit_pause()`);
  return {
    async pause() {
      const lock = await pool.connect();
      await lock.query('BEGIN');
      await lock.query(`SELECT pg_advisory_xact_lock(hashtextextended('test:commit-pause', 0))`);
      await pool.query('UPDATE test_commit_pause SET paused = true');
      let ended = false;
      return {
        async end() {
          if (ended) return;
          ended = true;
          await pool.query('UPDATE test_commit_pause SET paused = false');
          await lock.query('ROLLBACK').catch(() => undefined);
          lock.release();
        },
      };
    },
  };
}

/**
 * A test file's markets: the trade markets applied through a siphon of its own before the file's
 * tests (that siphon stopped after them), and after each test the trade invariants — with
 * `noOpenOrders`, also no BTC-USD order left open.
 */
export function useTradeMarkets(ctx: TestContext, label: string, o: { noOpenOrders?: boolean } = {}): void {
  const siphon = `config-siphon-${label}-${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    const tq = ctx.taskQueue();
    await ctx.withWorker(tq, () => applyTestConfig(ctx, tq, siphon, tradeMarketsTx()));
  });
  afterAll(async () => {
    await ctx.temporal.workflow
      .getHandle(siphon)
      .terminate(`${label} tests done`)
      .catch(() => undefined);
  });
  afterEach(async () => {
    expect(await checkTradeInvariants(ctx.pool)).toEqual([]);
    if (o.noOpenOrders) {
      const { rows } = await ctx.pool.query(`SELECT 1 FROM orders WHERE market = 'BTC-USD' AND status = 'open'`);
      expect(rows).toHaveLength(0);
    }
  });
}
