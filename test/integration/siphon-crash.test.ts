import { setLockTimeout } from '../../src/db/transaction';
import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import type { Worker } from '@temporalio/worker';
import { applyConfig, submitConfig } from '../../src/client/config';
import { createWorker } from '../../src/worker-factory';
import { checkConfigInvariants } from '../../src/db/queries/config';
import { eventually, useTestContext } from '../helpers/context';
import { rowsFor, settled, siphonTarget, thresholdTx } from './siphon-fixtures';

const ctx = useTestContext();
// An apply blocked on a lock for longer than its 2 s timeout: this file's lock waits are long (the worker's default is 2 s).
beforeAll(() => setLockTimeout(15_000));

afterEach(async () => {
  expect(await checkConfigInvariants(ctx.pool)).toEqual([]);
});
const uid = () => randomUUID().slice(0, 8);

/** A worker we start and stop ourselves, so two can overlap on one task queue. */
async function startWorker(taskQueue: string): Promise<{ worker: Worker; done: Promise<void> }> {
  const worker = await createWorker({
    connection: ctx.connection,
    namespace: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
    taskQueue,
    pool: ctx.pool,
    logger: ctx.logger,
    workflowBundle: ctx.bundle,
    shutdownGraceMs: 500,
  });
  return { worker, done: worker.run() };
}

/**
 * Holds the config_state row lock from a connection of the test's own, so the
 * worker's apply blocks inside its database transaction: "mid-apply".
 */
async function holdConfigLock(): Promise<PoolClient> {
  const lock = await ctx.pool.connect();
  await lock.query('BEGIN');
  await lock.query('SELECT 1 FROM config_state FOR UPDATE');
  return lock;
}

async function releaseLock(lock: PoolClient): Promise<void> {
  await lock.query('ROLLBACK');
  lock.release();
}

/** The backend of the worker's apply that is waiting for our lock. */
async function blockedApplyBackend(): Promise<number> {
  let pid: number | undefined;
  await eventually(async () => {
    const { rows } = await ctx.pool.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%config_state%FOR UPDATE%'`,
    );
    pid = rows[0]?.pid;
    return pid !== undefined;
  });
  return pid!;
}

async function appliedCount(id: string): Promise<number> {
  const { rows } = await ctx.pool.query<{ n: number }>(
    'SELECT COUNT(*)::int AS n FROM config_changes WHERE transaction_id = $1',
    [id],
  );
  return rows[0]!.n;
}

describe('config siphon: the worker dies while a transaction is being applied', () => {
  test('its database session dies mid-transaction: rolled back, retried on a new worker, applied exactly once', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq);
    const id = `crash-a-${uid()}`;
    const lock = await holdConfigLock();
    const a = await startWorker(tq);
    try {
      await submitConfig(target, thresholdTx(id, 4242));
      const pid = await blockedApplyBackend();
      // What PostgreSQL sees when a worker process is killed: its connection drops, its transaction rolls back.
      a.worker.shutdown();
      await ctx.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await a.done;
    } finally {
      await releaseLock(lock);
    }
    expect(await rowsFor(ctx.pool, [id])).toEqual([]); // nothing survived the killed attempt

    const b = await startWorker(tq);
    try {
      const [row] = await settled(ctx.pool, [id]);
      expect(row).toMatchObject({ status: 'applied' });
      expect(await appliedCount(id)).toBe(1);
      const again = await applyConfig(target, thresholdTx(`${id}-next`, 1));
      expect(again.sequence).toBe(row!.sequence + 1);
    } finally {
      b.worker.shutdown();
      await b.done;
    }
  });

  test('its attempt commits after Temporal gave up on it: the retry on a new worker finds it applied, once', async () => {
    const tq = ctx.taskQueue();
    const target = siphonTarget(ctx.temporal, tq, { applyTimeoutSeconds: 2 });
    const id = `crash-b-${uid()}`;
    const lock = await holdConfigLock();
    const a = await startWorker(tq);
    let b: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const outcome = applyConfig(target, thresholdTx(id, 4343));
      await blockedApplyBackend();
      // Worker A is going away; B takes over. A's attempt is stuck until its timeout passes ...
      a.worker.shutdown();
      b = await startWorker(tq);
      await eventually(async () => {
        const { rows } = await ctx.pool.query<{ n: number }>(
          `SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return rows[0]!.n >= 2; // the retry is waiting for the lock too
      }, 20_000);
      // ... then it commits, too late to report: its result is lost, its effect is not.
      await releaseLock(lock);
      await a.done;
      const result = await outcome;
      // Its own retry, not a second submission: never reported as a duplicate.
      expect(result).toMatchObject({ id, status: 'applied', duplicate: false });
    } finally {
      if (b) {
        b.worker.shutdown();
        await b.done;
      }
    }
    expect(await appliedCount(id)).toBe(1);
    const { rows } = await ctx.pool.query<{ attempts: number }>(
      `SELECT MAX(attempt)::int AS attempts FROM transaction_metrics WHERE workflow_id = $1 AND operation = 'recordConfigTransaction'`,
      [target.workflowId],
    );
    expect(rows[0]!.attempts).toBeGreaterThanOrEqual(2);
  });
});
