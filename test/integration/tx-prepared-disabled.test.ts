import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { executeTransaction } from '../../src/client/transactions';
import { ensureDatabase } from '../../src/db/admin';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { transactionWorkflowId } from '../../src/domain/operations';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/infra/embedded-postgres';
import { createWorker } from '../../src/worker-factory';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { fundedSide, snapshot } from './tx-fixtures';

// The ledger is the file's database (prepared transactions on); custody is a second PostgreSQL
// started with max_prepared_transactions = 0, PostgreSQL's own default.
const ctx = useTestContext();
let server: EmbeddedPostgres | undefined;
let custody: Pool | undefined;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-no-2pc-'));
fs.chmodSync(dataDir, 0o755); // run as root, PostgreSQL runs as its own user and must reach its data directory

/** The embedded-postgres binaries, named by its ES module (imported in a child: jest's sandbox cannot). */
function binaries(): { postgres: string; initdb: string } {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  const script = `import(${JSON.stringify(name)}).then((m) => process.stdout.write(JSON.stringify({ postgres: m.postgres, initdb: m.initdb })))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { postgres: string; initdb: string };
}

beforeAll(async () => {
  server = await startEmbeddedPostgres(path.join(dataDir, 'pg'), ctx.logger, {
    binaries: binaries(),
    durable: false,
    maxPreparedTransactions: 0,
    logFile: path.join(dataDir, 'postgres.log'),
    marker: dataDir,
  });
  const url = await ensureDatabase(server.adminUrl, 'custody');
  await migrate(url);
  custody = createPool({ databaseUrl: url, max: 5 });
}, 180_000);

afterAll(async () => {
  await custody?.end();
  await server?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('a 2pc request against a database without prepared transactions fails at once, saying so, and writes nothing', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(custody!);
  const before = [await snapshot(l), await snapshot(c)];
  const tq = ctx.taskQueue();
  const worker = await createWorker({
    connection: ctx.connection,
    namespace: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
    taskQueue: tq,
    pool: ctx.pool,
    custodyPool: custody,
    logger: ctx.logger,
    workflowBundle: ctx.bundle,
    shutdownGraceMs: 500,
  });
  const id = `t-${randomUUID()}`;
  const transfer = (s: typeof l, resource: 'ledger' | 'custody') => ({
    type: 'ledger.transfer',
    resource,
    params: { debitAccountId: s.user, creditAccountId: s.other, asset: 'USD', amount: '100' },
  });
  const failure = await worker.runUntil(
    executeTransaction(
      { temporal: ctx.temporal, taskQueue: tq },
      { id, mode: '2pc', operations: [transfer(l, 'ledger'), transfer(c, 'custody')] },
    ).then(
      () => undefined,
      (err: unknown) => err as Error & { type?: string },
    ),
  );
  expect(failure?.message).toMatch(/max_prepared_transactions is 0 on the custody database/);
  expect(failure?.message).toMatch(/or use mode saga/);
  // Refused on the first attempt (non-retryable), before anything was prepared or recorded.
  const history = await ctx.temporal.workflow.getHandle(transactionWorkflowId(id)).fetchHistory();
  const attempts = (history.events ?? [])
    .filter((e) => e.activityTaskStartedEventAttributes)
    .map((e) => e.activityTaskStartedEventAttributes?.attempt);
  expect(attempts).toEqual([1]);
  expect(await count(ctx.pool, 'SELECT 1 FROM tx_transactions WHERE id = $1', [id])).toBe(0);
  expect(await count(ctx.pool, 'SELECT 1 FROM tx_participants')).toBe(0);
  expect(await count(custody!, 'SELECT 1 FROM tx_participants')).toBe(0);
  expect(await count(custody!, 'SELECT 1 FROM pg_prepared_xacts')).toBe(0);
  expect([await snapshot(l), await snapshot(c)]).toEqual(before);
});
