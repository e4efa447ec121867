import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Pool } from 'pg';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { TxmgrClient } from '../../src/client';
import { dropDatabase, ensureDatabase, withDatabase } from '../../src/db/admin';
import { checkInvariants } from '../../src/db/invariants';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import type { Logger } from '../../src/logger';
import { installRuntime } from '../../src/temporal/runtime';
import { createTestLogger } from './log-buffer';
import { bundleWorkflows, createWorker, type WorkerOptions } from '../../src/worker-factory';

/** Everything a test file needs on the real stack: its own database, Temporal, a bundle. */
export interface TestContext {
  pool: Pool;
  /** The file's custody database (the transaction core's second resource), with `useTestContext({ custody: true })`. */
  custodyPool?: Pool;
  /**
   * The same databases as the application's login role (a member of txmgr_app: rows, never the
   * schema), as the embedded stack gives the worker and the API: `withWorker(tq, fn, { pool: ctx.appPool })`.
   */
  appPool: Pool;
  appCustodyPool?: Pool;
  databaseUrl: string;
  databaseName: string;
  temporal: Client;
  connection: NativeConnection;
  logger: Logger;
  bundle: WorkflowBundleWithSourceMap;
  /** A fresh task queue name, one per test. */
  taskQueue(): string;
  /** A TxmgrClient bound to a task queue. */
  client(taskQueue: string): TxmgrClient;
  /** Runs `fn` while a new worker serves `taskQueue`, then shuts the worker down. */
  withWorker<T>(taskQueue: string, fn: (worker: Worker) => Promise<T>, extra?: Partial<WorkerOptions>): Promise<T>;
  /** Runs `fn` when the file is done, before the connections close (a worker shared by the file). */
  onClose(fn: () => Promise<void>): void;
  /** Fails the test with every ledger invariant the database breaks. */
  expectInvariants(): Promise<void>;
}

const uid = () => randomBytes(4).toString('hex');

/**
 * Registers beforeAll/afterAll/afterEach hooks for a file on the real stack. The
 * database is dropped afterwards, unless a test failed: then it is kept and named.
 */
export function useTestContext(
  options: { workflowsPath?: string; invariantsAfterEach?: boolean; custody?: boolean } = {},
): TestContext {
  const ctx = {} as TestContext;
  const fileName = path
    .basename(expect.getState().testPath ?? 'test', '.test.ts')
    .replace(/[^a-z0-9]+/gi, '_')
    .toLowerCase();
  const databaseName = `t_${fileName.slice(0, 40)}_${uid()}`;
  let temporalConnection: Connection | undefined;
  const closers: Array<() => Promise<void>> = [];
  ctx.onClose = (fn) => closers.push(fn);

  beforeAll(async () => {
    const adminUrl = required('TXMGR_TEST_ADMIN_URL');
    const address = required('TXMGR_TEST_TEMPORAL_ADDRESS');
    const namespace = process.env.TXMGR_TEST_NAMESPACE ?? 'default';
    // Into the file's log buffer: printed only for a failed test (test/helpers/environment.js).
    const logger = createTestLogger(process.env.TEST_LOG_LEVEL ?? 'warn');
    installRuntime(logger);
    const databaseUrl = await ensureDatabase(adminUrl, databaseName);
    await migrate(databaseUrl);
    const pool = createPool({ databaseUrl, max: 30 });
    let custodyPool: Pool | undefined;
    if (options.custody) {
      const custodyUrl = await ensureDatabase(adminUrl, `${databaseName}_custody`);
      await migrate(custodyUrl);
      custodyPool = createPool({ databaseUrl: custodyUrl, max: 30 });
    }
    const appUrl = required('TXMGR_TEST_APP_URL');
    const appPool = createPool({ databaseUrl: withDatabase(appUrl, databaseName), max: 30 });
    const appCustodyPool = options.custody
      ? createPool({ databaseUrl: withDatabase(appUrl, `${databaseName}_custody`), max: 30 })
      : undefined;
    temporalConnection = await Connection.connect({ address });
    const connection = await NativeConnection.connect({ address });
    const temporal = new Client({ connection: temporalConnection, namespace });
    const bundle = await bundleWorkflows(options.workflowsPath);
    Object.assign(ctx, {
      pool,
      custodyPool,
      appPool,
      appCustodyPool,
      databaseUrl,
      databaseName,
      temporal,
      connection,
      logger,
      bundle,
      taskQueue: () => `tq-${fileName}-${uid()}`,
      client: (taskQueue: string) => new TxmgrClient(temporal, pool, taskQueue),
      async withWorker<T>(taskQueue: string, fn: (worker: Worker) => Promise<T>, extra: Partial<WorkerOptions> = {}) {
        const worker = await createWorker({
          connection,
          namespace,
          taskQueue,
          pool,
          custodyPool,
          logger,
          workflowBundle: bundle,
          shutdownGraceMs: 2_000,
          ...extra,
        });
        return worker.runUntil(() => fn(worker));
      },
      async expectInvariants() {
        expect(await checkInvariants(pool, { temporal })).toEqual([]);
        expect(await checkTxcoreInvariants(pool)).toEqual([]);
      },
    } satisfies Omit<TestContext, 'onClose'>);
  }, 120_000);

  if (options.invariantsAfterEach !== false) {
    afterEach(async () => {
      if (ctx.pool) await ctx.expectInvariants();
    });
  }

  afterAll(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await ctx.pool?.end();
    await ctx.custodyPool?.end();
    await ctx.appPool?.end();
    await ctx.appCustodyPool?.end();
    await ctx.connection?.close();
    await temporalConnection?.close();
    const failed = (globalThis as { __txmgrFailed?: boolean }).__txmgrFailed === true;
    if (failed) {
      process.stderr.write(`kept database ${databaseName} of a failed test for inspection\n`);
    } else if (process.env.TXMGR_TEST_ADMIN_URL) {
      await dropDatabase(process.env.TXMGR_TEST_ADMIN_URL, databaseName);
      if (options.custody) await dropDatabase(process.env.TXMGR_TEST_ADMIN_URL, `${databaseName}_custody`);
    }
  });

  return ctx;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests with the README's test command (jest globalSetup starts the stack)`);
  return value;
}

/**
 * Polls until `check` holds, for states reached asynchronously (a saga waiting for
 * review). On timeout it throws the last error `check` threw, so a failure says why.
 */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      if (lastError !== undefined) throw lastError;
      throw new Error(`condition not reached in ${timeoutMs} ms (it kept answering false)`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
