/**
 * `npm run bench:trade`: taker sagas per second and matching latency with the 200-taker
 * workload of test/integration/trade-load.test.ts, on the embedded stack (or TEMPORAL_ADDRESS /
 * DATABASE_URL). Baseline, measured in the same run: BENCH_TRADE_BASELINE (default 20) takers
 * one after another against the same book. Then BENCH_TRADE_TAKERS (default 200) takers at once
 * on two markets. Writes bench/reports/trade.md; the invariants must be clean afterwards.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { applyConfig } from '../src/client/config';
import { loadCommonConfig } from '../src/config';
import { checkInvariants } from '../src/db/invariants';
import { checkTradeInvariants } from '../src/db/invariants-trade';
import { migrate } from '../src/db/migrate';
import { createPool } from '../src/db/pool';
import { PROJECT_ROOT, startStack } from '../src/infra/stack';
import { createLogger } from '../src/logger';
import { installRuntime } from '../src/temporal/runtime';
import { createWorker } from '../src/worker-factory';
import { tradeMarketsTx } from '../test/integration/trade-fixtures';
import { clearBook, makeTakers, matchDurations, percentile, runTakers, seedBook } from '../test/integration/trade-workload';

const TAKERS = Number(process.env.BENCH_TRADE_TAKERS ?? 200);
const BASELINE = Number(process.env.BENCH_TRADE_BASELINE ?? 20);

const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'txmgr-bench');
  installRuntime(logger);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`bench:trade — starting the stack (takers=${TAKERS}, baseline=${BASELINE}) ...`);
  const stack = await startStack({
    logger,
    dataDir: path.resolve(PROJECT_ROOT, config.dataDir, 'bench'),
    say: (line) => say(`  ${line}`),
    namespace: config.namespace,
    databaseName: `txmgr_bench_${Date.now().toString(36)}`,
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
  });
  const pool = createPool({ databaseUrl: stack.databaseUrl, max: 30 });
  try {
    await migrate(stack.databaseUrl, logger);
    const temporal = new Client({ connection: stack.connection, namespace: stack.namespace });
    const taskQueue = `bench-trade-${randomUUID().slice(0, 8)}`;
    const siphon = `config-siphon-bench-trade-${randomUUID().slice(0, 8)}`;
    const client = { temporal, pool, taskQueue };
    const worker = await createWorker({
      connection: stack.nativeConnection,
      namespace: stack.namespace,
      taskQueue,
      pool,
      logger,
      maxConcurrentActivities: 24,
    });
    const report = await worker.runUntil(async () => {
      await applyConfig({ client: temporal, taskQueue, workflowId: siphon }, tradeMarketsTx());
      const book = await seedBook(pool, client);
      say(`seeded ${book.makers.length} resting orders on two markets`);

      const baselineSince = new Date();
      const serialTakers = await makeTakers(pool, BASELINE);
      const serial = { wallMs: 0, latenciesMs: [] as number[] };
      for (const t of serialTakers) {
        const r = await runTakers(client, [t]);
        serial.wallMs += r.wallMs;
        serial.latenciesMs.push(...r.latenciesMs);
      }
      const serialMatch = await matchDurations(pool, baselineSince);
      say(`baseline: ${BASELINE} takers one at a time, ${(BASELINE / (serial.wallMs / 1000)).toFixed(1)} sagas/s`);

      const loadSince = new Date();
      const takers = await makeTakers(pool, TAKERS);
      const run = await runTakers(client, takers);
      const loadMatch = (await matchDurations(pool, loadSince)).slice();
      const rate = TAKERS / (run.wallMs / 1000);
      say(`load: ${TAKERS} takers at once, ${rate.toFixed(1)} sagas/s`);
      const fills = await pool.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM fills');
      await clearBook(pool, client, book);
      await temporal.workflow.getHandle(siphon).terminate('bench done');
      const violations = [...(await checkInvariants(pool, { temporal })), ...(await checkTradeInvariants(pool))];
      const baseRate = BASELINE / (serial.wallMs / 1000);
      return [
        '# bench:trade',
        '',
        `Run ${new Date().toISOString()} on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), load average ${os.loadavg()[0]!.toFixed(1)} at the end.`,
        `Book: 20 resting orders per market (10 levels a side) on BTC-USD and ETH-EUR; takers are IOC, 1–60 lots, crossing up to five levels.`,
        `One worker (24 concurrent activities), one PostgreSQL pool of 30. ${fills.rows[0]!.n} fills in all.`,
        '',
        '| run | takers | sagas/s | saga p50 | saga p99 | matching tx p50 | matching tx p99 |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
        `| baseline: one at a time | ${BASELINE} | ${baseRate.toFixed(1)} | ${ms(percentile(serial.latenciesMs, 50))} | ${ms(percentile(serial.latenciesMs, 99))} | ${ms(percentile(serialMatch, 50))} | ${ms(percentile(serialMatch, 99))} |`,
        `| load: all at once, two markets | ${TAKERS} | ${rate.toFixed(1)} | ${ms(percentile(run.latenciesMs, 50))} | ${ms(percentile(run.latenciesMs, 99))} | ${ms(percentile(loadMatch, 50))} | ${ms(percentile(loadMatch, 99))} |`,
        '',
        `Throughput ratio load / baseline: ${(rate / baseRate).toFixed(2)}×. Matching transaction p50 ratio load / baseline: ${(percentile(loadMatch, 50) / Math.max(0.001, percentile(serialMatch, 50))).toFixed(2)}×.`,
        'The matching latency is the placeAndMatchOrder database transaction (transaction_metrics): the advisory lock wait, matching and settlement of every fill.',
        '',
        `Invariants after the run: ${violations.length === 0 ? 'clean' : violations.join('; ')}.`,
        '',
      ].join('\n');
    });
    const out = path.join(PROJECT_ROOT, 'bench', 'reports', 'trade.md');
    fs.writeFileSync(out, report);
    say(report);
    say(`written to ${path.relative(process.cwd(), out)}`);
  } finally {
    await pool.end();
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:trade failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
