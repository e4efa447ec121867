/**
 * `npm run bench:tx`: transactions per second and latency of the transaction core's three
 * modes on this machine, side by side in one run, on the embedded stack (or TEMPORAL_ADDRESS /
 * DATABASE_URL with CUSTODY_DATABASE_URL). Every mode runs the same 4-operation transaction on
 * the ledger (transfer, hold, partial capture, release); a fourth row runs 2pc across the ledger
 * and custody (2 operations on each). Ratios are against atomic, measured in the same run.
 * Sizes: BENCH_TX_N (default 200 per mode), BENCH_TX_CLIENTS (default 8). Report: bench/reports/tx.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { executeTransaction, type TransactionTarget } from '../src/client/transactions';
import { loadCommonConfig } from '../src/config';
import { checkInvariants } from '../src/db/invariants';
import { checkTxcoreInvariants } from '../src/db/invariants-txcore';
import { postTransfer } from '../src/db/ledger';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { findHouseAccount } from '../src/db/queries/accounts';
import { withTransaction } from '../src/db/transaction';
import type { TransactionRequest, TxMode } from '../src/domain/operations';
import { PROJECT_ROOT, startStack, type Stack } from '../src/infra/stack';
import { createLogger } from '../src/logger';
import { installRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker-factory';

const N = Number(process.env.BENCH_TX_N ?? 200);
const CLIENTS = Number(process.env.BENCH_TX_CLIENTS ?? 8);

/**
 * A funded user and a counterparty per client, so clients never queue on each other's locks
 * (2pc holds its locks until the decision is carried out: shared hot accounts would measure that).
 */
async function users(pool: Pool, n: number): Promise<Array<{ user: string; other: string }>> {
  const bank = (await findHouseAccount(pool, 'USD', 'external_bank'))!.id;
  const out: Array<{ user: string; other: string }> = [];
  for (let i = 0; i < n; i++) {
    const [user, other] = [randomUUID(), randomUUID()];
    for (const id of [user, other]) {
      await pool.query(
        `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits) VALUES ($1, 'USD', 'user', 'bench', true)`,
        [id],
      );
    }
    await withTransaction(pool, 'bench-fund', (tx) =>
      postTransfer(tx, { id: randomUUID(), debitAccountId: bank, creditAccountId: user, asset: 'USD', amount: 10n ** 12n }),
    );
    out.push({ user, other });
  }
  return out;
}

const fourOps = (p: { user: string; other: string }, resource: 'ledger' | 'custody') => [
  {
    type: 'ledger.transfer',
    resource,
    params: { debitAccountId: p.user, creditAccountId: p.other, asset: 'USD', amount: '100' },
  },
  { type: 'ledger.hold', resource, params: { debitAccountId: p.user, creditAccountId: p.other, asset: 'USD', amount: '200' } },
  { type: 'ledger.capture', resource, params: { holdOperation: 1, amount: '50' } },
  { type: 'ledger.release', resource, params: { holdOperation: 1 } },
];

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function run(
  target: TransactionTarget,
  label: string,
  mode: TxMode,
  request: (client: number) => TransactionRequest['operations'],
) {
  const latencies: number[] = [];
  const perClient = Math.ceil(N / CLIENTS);
  const s0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; i < perClient && c * perClient + i < N; i++) {
        const l0 = performance.now();
        const result = await executeTransaction(target, { id: `bench-${mode}-${randomUUID()}`, mode, operations: request(c) });
        if (result.status !== 'COMMITTED') throw new Error(`${label}: ${result.status}`);
        latencies.push(performance.now() - l0);
      }
    }),
  );
  const seconds = (performance.now() - s0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    label,
    n: latencies.length,
    rate: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'txmgr-bench');
  installRuntime(logger);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`bench:tx — starting the stack (N=${N} per mode, clients=${CLIENTS}) ...`);
  const stack: Stack = await startStack({
    logger,
    dataDir: path.resolve(PROJECT_ROOT, config.dataDir, 'bench-tx'),
    say: (line) => say(`  ${line}`),
    namespace: config.namespace,
    databaseName: `txmgr_bench_${Date.now().toString(36)}`,
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
  });
  process.once('SIGINT', () => void stack.stop().then(() => process.exit(130)));
  const custodyUrl = stack.custodyDatabaseUrl ?? config.custodyDatabaseUrl;
  if (!custodyUrl) throw new Error('no custody database: set CUSTODY_DATABASE_URL with DATABASE_URL');
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 30 });
  const custody = createPool({ databaseUrl: custodyUrl, max: 30 });
  try {
    await migrate(stack.databaseUrl, logger);
    await migrate(custodyUrl, logger);
    const ledger = await users(pool, CLIENTS);
    const hot = await users(custody, CLIENTS);
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const taskQueue = `bench-tx-${randomUUID().slice(0, 8)}`;
    const worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      custodyPool: custody,
      logger,
      maxConcurrentActivities: 24,
    });
    const target = { temporal, taskQueue };
    const results = await worker.runUntil(async () => {
      // Warm-up: bundle loaded, connections open, caches filled.
      await run(target, 'warm-up', 'atomic', (c) => fourOps(ledger[c]!, 'ledger'));
      const out = [];
      for (const mode of ['atomic', 'saga', '2pc'] as TxMode[]) {
        out.push(await run(target, `${mode}, 4 ops on the ledger`, mode, (c) => fourOps(ledger[c]!, 'ledger')));
        say(`${mode}: ${out[out.length - 1]!.rate.toFixed(1)} tx/s`);
      }
      const transfer = (p: { user: string; other: string }, resource: 'ledger' | 'custody') => fourOps(p, resource)[0]!;
      out.push(
        await run(target, '2pc, 2 transfers on the ledger + 2 on custody', '2pc', (c) => [
          transfer(ledger[c]!, 'ledger'),
          transfer(ledger[c]!, 'ledger'),
          transfer(hot[c]!, 'custody'),
          transfer(hot[c]!, 'custody'),
        ]),
      );
      say(`2pc across two databases: ${out[out.length - 1]!.rate.toFixed(1)} tx/s`);
      return out;
    });
    const violations = [
      ...(await checkInvariants(pool, { temporal })),
      ...(await checkTxcoreInvariants(pool)),
      ...(await checkTxcoreInvariants(custody)),
    ];
    const base = results[0]!.rate;
    const report = [
      '# Transaction core benchmark',
      '',
      `${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${CLIENTS} concurrent clients, ${N} transactions per row, one worker (24 activity slots), durable PostgreSQL (fsync on); load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}.`,
      '',
      'The same 4-operation transaction (transfer, hold, partial capture, release) in each mode; the last row spreads 4 transfers over the ledger and custody databases (two participants).',
      '',
      '| mode | tx/s | vs atomic | p50 ms | p99 ms |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...results.map(
        (r) =>
          `| ${r.label} | ${r.rate.toFixed(1)} | ${(r.rate / base).toFixed(2)}× | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} |`,
      ),
      '',
      `Invariants after the run: ${violations.length === 0 ? 'clean' : violations.join('; ')}.`,
      '',
      'atomic is one activity and one database transaction; saga is an activity (and a database transaction) per operation plus validation; 2pc adds a begin, a prepare per participant, the decision and a commit per participant.',
      '',
    ].join('\n');
    fs.mkdirSync(path.join(PROJECT_ROOT, 'bench', 'reports'), { recursive: true });
    fs.writeFileSync(path.join(PROJECT_ROOT, 'bench', 'reports', 'tx.md'), report);
    say(report);
    if (violations.length) process.exitCode = 1;
  } finally {
    await pool.end();
    await custody.end();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
