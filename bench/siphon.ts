/**
 * `npm run bench:siphon`: config transactions per second through the siphon on this
 * machine, on the embedded stack (or TEMPORAL_ADDRESS / DATABASE_URL). Three runs,
 * each on a fresh siphon workflow:
 *   backlog  — N signals recorded while no worker runs, then one worker drains them;
 *   signals  — C clients signal N transactions while a worker applies them;
 *   updates  — C clients each apply transactions one by one with the update (submit → applied).
 * Writes bench/reports/siphon.md. Sizes: BENCH_SIPHON_N (default 1000), BENCH_SIPHON_UPDATES
 * (default 300), BENCH_SIPHON_CLIENTS (default 8). `--data-dir DIR` chooses where its stack keeps data
 * (default .data/bench); one bench per data directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { applyConfig, submitConfig, type SiphonTarget } from '../src/client/config';
import { ConfigError, loadCommonConfig } from '../src/config';
import { checkInvariants } from '../src/db/invariants';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { PROJECT_ROOT, startStack, type Stack } from '../src/infra/stack';
import { describeFailure, exitCodeOf } from '../src/infra/stack-error';
import { createLogger } from '../src/logger';
import { installRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker-factory';

const N = Number(process.env.BENCH_SIPHON_N ?? 1000);
const UPDATES = Number(process.env.BENCH_SIPHON_UPDATES ?? 300);
const CLIENTS = Number(process.env.BENCH_SIPHON_CLIENTS ?? 8);

const tx = (id: string, i: number) => ({
  id,
  kind: 'compliance.thresholds',
  payload: { thresholds: [{ asset: 'USD', reviewThreshold: String(1000 + i) }] },
});

async function waitSettled(pool: Pool, prefix: string, n: number): Promise<void> {
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT COUNT(*)::int AS n FROM config_transactions WHERE id LIKE $1 AND status <> 'pending'`,
      [`${prefix}%`],
    );
    if (rows[0]!.n >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Checks the run: every id there once, sequences contiguous, each client's order kept. */
async function checkOrder(pool: Pool, prefix: string, n: number): Promise<string> {
  const { rows } = await pool.query<{ id: string; sequence: number }>(
    `SELECT id, sequence::float8 AS sequence FROM config_transactions WHERE id LIKE $1 ORDER BY sequence`,
    [`${prefix}%`],
  );
  if (rows.length !== n) return `expected ${n} rows, found ${rows.length}`;
  if (rows.some((r, i) => r.sequence !== rows[0]!.sequence + i)) return 'sequences have gaps';
  const lastByClient = new Map<string, number>();
  for (const r of rows) {
    const [client, index] = r.id.slice(prefix.length).split('-').map(Number) as [number, number];
    if ((lastByClient.get(String(client)) ?? -1) >= index) return `client ${client} out of order at ${index}`;
    lastByClient.set(String(client), index);
  }
  return 'ok';
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'txmgr-bench');
  installRuntime(logger);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`bench:siphon — starting the stack (N=${N}, updates=${UPDATES}, clients=${CLIENTS}) ...`);
  const abort = new AbortController();
  let stack: Stack | undefined = undefined;
  let stopping = false;
  // Ctrl-C at any moment: stop what runs and say what; a second one exits at once (the supervisor cleans up).
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    if (!stack) {
      say(`${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping what has started so far ...`);
      abort.abort();
      return;
    }
    stoppingAll = true;
    say(`${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping ${stack.services.join(', ')} ...`);
    void stack.stop().then((stopped) => {
      say(`stopped ${stopped.join(' and ') || 'nothing'}; nothing is left running.`);
      process.exit(130);
    });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  const dirArg = process.argv[process.argv.indexOf('--data-dir') + 1];
  const dataDir =
    process.argv.includes('--data-dir') && dirArg
      ? path.resolve(process.env.INIT_CWD ?? process.cwd(), dirArg)
      : path.resolve(PROJECT_ROOT, config.dataDir, 'bench');
  stack = await startStack({
    logger,
    dataDir,
    say: (line) => say(`  ${line}`),
    signal: abort.signal,
    namespace: config.namespace,
    databaseName: `txmgr_bench_${Date.now().toString(36)}`,
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
  });
  if (process.argv.includes('--stack-only')) {
    // For the process tests: the start-up, lock and error handling without the measurements.
    say(`stack ready: ${stack.services.join(', ')}`);
    await stack.stop();
    return;
  }
  const started = stack;
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 20 });
  const results: Array<{ name: string; n: number; seconds: number; rate: number; detail: string; order: string }> = [];
  try {
    await migrate(stack.databaseUrl, logger);
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const taskQueue = `bench-siphon-${randomUUID().slice(0, 8)}`;
    const target = (): SiphonTarget => ({
      client: temporal,
      taskQueue,
      workflowId: `config-siphon-bench-${randomUUID().slice(0, 8)}`,
    });
    const newWorker = () =>
      createWorker({ connection: stack.nativeConnection, namespace: stack.namespace, taskQueue, pool, logger });

    // 1. Backlog: recorded with no worker, then drained.
    {
      const t = target();
      const prefix = `backlog-${randomUUID().slice(0, 6)}-`;
      const s0 = performance.now();
      for (let i = 0; i < N; i++) await submitConfig(t, tx(`${prefix}0-${i}`, i));
      const submitSeconds = (performance.now() - s0) / 1000;
      const worker = await newWorker();
      const a0 = performance.now();
      await worker.runUntil(() => waitSettled(pool, prefix, N));
      const seconds = (performance.now() - a0) / 1000;
      results.push({
        name: 'backlog drain (signals recorded with no worker, then applied)',
        n: N,
        seconds,
        rate: N / seconds,
        detail: `recording ${N} signals took ${submitSeconds.toFixed(1)}s (${(N / submitSeconds).toFixed(0)}/s, one client)`,
        order: await checkOrder(pool, prefix, N),
      });
      say(`backlog: ${(N / seconds).toFixed(1)} tx/s applied`);
    }

    const worker = await newWorker();
    await worker.runUntil(async () => {
      // 2. Signals from C clients while the worker applies.
      {
        const t = target();
        const prefix = `signal-${randomUUID().slice(0, 6)}-`;
        const perClient = Math.ceil(N / CLIENTS);
        const s0 = performance.now();
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, c) => {
            for (let i = 0; i < perClient && c * perClient + i < N; i++) await submitConfig(t, tx(`${prefix}${c}-${i}`, i));
          }),
        );
        const submitted = (performance.now() - s0) / 1000;
        await waitSettled(pool, prefix, N);
        const seconds = (performance.now() - s0) / 1000;
        results.push({
          name: `signals (${CLIENTS} clients, submit → all applied)`,
          n: N,
          seconds,
          rate: N / seconds,
          detail: `all submitted after ${submitted.toFixed(1)}s`,
          order: await checkOrder(pool, prefix, N),
        });
        say(`signals: ${(N / seconds).toFixed(1)} tx/s applied`);
      }

      // 3. Updates: each client waits for each outcome before sending its next.
      {
        const t = target();
        const prefix = `update-${randomUUID().slice(0, 6)}-`;
        const perClient = Math.ceil(UPDATES / CLIENTS);
        const latencies: number[] = [];
        await applyConfig(t, tx(`warmup-${prefix}`, 0)); // starts the siphon run
        const s0 = performance.now();
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, c) => {
            for (let i = 0; i < perClient && c * perClient + i < UPDATES; i++) {
              const l0 = performance.now();
              await applyConfig(t, tx(`${prefix}${c}-${i}`, i));
              latencies.push(performance.now() - l0);
            }
          }),
        );
        const seconds = (performance.now() - s0) / 1000;
        latencies.sort((a, b) => a - b);
        results.push({
          name: `updates (${CLIENTS} clients, each waits for its outcome)`,
          n: UPDATES,
          seconds,
          rate: UPDATES / seconds,
          detail: `latency p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms`,
          order: await checkOrder(pool, prefix, UPDATES),
        });
        say(`updates: ${(UPDATES / seconds).toFixed(1)} tx/s applied`);
      }
    });

    const violations = await checkInvariants(pool, { temporal });
    writeReport(results, violations);
    say(`report written to bench/reports/siphon.md`);
  } finally {
    if (!stopping) {
      await pool.end();
      await started.stop();
    }
  }
}

function writeReport(
  results: Array<{ name: string; n: number; seconds: number; rate: number; detail: string; order: string }>,
  violations: string[],
): void {
  const cpus = os.cpus();
  const lines = [
    '# Config siphon benchmark',
    '',
    `Run ${new Date().toISOString()} with \`npm run bench:siphon\`.`,
    '',
    `Machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}.`,
    'Stack: embedded Temporal CLI dev server (in-memory) and embedded PostgreSQL (default settings, fsync on), one worker, all on this machine.',
    '',
    '| run | transactions | seconds | tx/s | order check | notes |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...results.map(
      (r) => `| ${r.name} | ${r.n} | ${r.seconds.toFixed(1)} | **${r.rate.toFixed(1)}** | ${r.order} | ${r.detail} |`,
    ),
    '',
    'Each transaction is recorded (pending, with its gapless sequence) and then applied in its own',
    'database transaction; the siphon hands queued transactions to its apply activity in batches of',
    'up to 50, applied one at a time in order. Updates cannot batch beyond the number of clients',
    'waiting, so their rate is bounded by round trips through Temporal.',
    '',
    `Ledger invariants after the run: ${violations.length === 0 ? 'all hold' : violations.join('; ')}.`,
    '',
  ];
  fs.mkdirSync(path.resolve(PROJECT_ROOT, 'bench', 'reports'), { recursive: true });
  fs.writeFileSync(path.resolve(PROJECT_ROOT, 'bench', 'reports', 'siphon.md'), lines.join('\n'));
}

/** Set once a signal handler is stopping a started stack; it owns the exit from then on. */
let stoppingAll = false;

// While stopping, calls still in flight fail as their connections close: expected, not news.
process.on('uncaughtException', (err) => {
  if (stoppingAll) return;
  process.stderr.write(
    `bench:siphon: ${describeFailure(err, 'this is a bug in the bench; run it again with LOG_LEVEL=debug')}\n`,
  );
  process.exit(1);
});

main().then(
  () => {
    if (!stoppingAll) process.exit(0);
  },
  (err: unknown) => {
    if (stoppingAll) return;
    if (exitCodeOf(err) === 130) {
      process.stdout.write('stopped what had started; nothing is left running.\n');
      process.exit(130);
    }
    process.stderr.write(
      `bench:siphon: ${describeFailure(err, 'run it again with LOG_LEVEL=debug for details, or give it another directory with --data-dir DIR')}\n`,
    );
    process.exit(err instanceof ConfigError ? 2 : exitCodeOf(err));
  },
);
