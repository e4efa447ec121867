import { alertReport, performanceReport, transactionMetrics } from '../../src/client/metrics';
import { withTransaction } from '../../src/db/transaction';
import { useTestContext } from '../helpers/context';
import { stackEnv, txmgr } from './cli-process';

const ctx = useTestContext();

/** percentile_cont as PostgreSQL defines it: linear interpolation between the closest ranks. */
function percentile(sorted: number[], p: number): number {
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

async function insertRows(
  operation: string,
  durations: number[],
  o: { failedEvery?: number; retriedEvery?: number; sqlstate?: string; age?: string } = {},
) {
  await ctx.pool.query(
    `INSERT INTO transaction_metrics (operation, duration_ms, success, error, sqlstate, attempt, local_retry, isolation, created_at)
     SELECT $1, d, NOT (i % $3 = 0), CASE WHEN i % $3 = 0 THEN 'boom' END, CASE WHEN i % $3 = 0 THEN $5::text END,
            CASE WHEN i % $4 = 0 THEN 2 ELSE 1 END, 0, 'read committed', now() - $6::interval
       FROM unnest($2::float8[]) WITH ORDINALITY AS t(d, i)`,
    [operation, durations, o.failedEvery ?? 1_000_000, o.retriedEvery ?? 1_000_000, o.sqlstate ?? null, o.age ?? '0 seconds'],
  );
}

describe('transaction metrics', () => {
  test('per operation: count, success rate, retries and percentiles from PostgreSQL, filtered by since and operation', async () => {
    const durations = Array.from({ length: 200 }, (_, i) => ((i * 37) % 200) + 0.5);
    await insertRows('metricsOpA', durations, { failedEvery: 10, retriedEvery: 25 });
    await insertRows('metricsOpB', [3, 1, 2]);
    await insertRows('metricsOpA', [100_000], { age: '3 days' });
    // Rows written by withTransaction itself, the way every saga step writes them.
    for (let i = 0; i < 3; i++) await withTransaction(ctx.pool, 'metricsRealTx', async (c) => c.query('SELECT 1'));

    const report = await transactionMetrics(ctx.pool, { since: '24h' });
    const a = report.operations.find((o) => o.operation === 'metricsOpA');
    const sorted = [...durations].sort((x, y) => x - y);
    expect(a).toEqual({
      operation: 'metricsOpA',
      count: 200,
      succeeded: 180,
      failed: 20,
      successRate: 0.9,
      retries: 8,
      p50Ms: expect.closeTo(percentile(sorted, 0.5), 3),
      p95Ms: expect.closeTo(percentile(sorted, 0.95), 3),
      p99Ms: expect.closeTo(percentile(sorted, 0.99), 3),
      maxMs: Math.max(...durations),
    });
    expect(report.operations.find((o) => o.operation === 'metricsRealTx')).toMatchObject({ count: 3, succeeded: 3 });

    const week = await transactionMetrics(ctx.pool, { since: '7d', operation: 'metricsOpA' });
    expect(week.operations).toHaveLength(1);
    expect(week.operations[0]).toMatchObject({ count: 201, maxMs: 100_000 });
    const b = await transactionMetrics(ctx.pool, { operation: 'metricsOpB' });
    expect(b.operations).toEqual([expect.objectContaining({ operation: 'metricsOpB', count: 3, p50Ms: 2 })]);
    await expect(transactionMetrics(ctx.pool, { since: 'last tuesday' })).rejects.toMatchObject({ type: 'ValidationError' });
  });

  test('performance and alerts over a window, against configurable thresholds', async () => {
    // Enough rows to dominate the window, whatever the other tests of this file wrote.
    await insertRows(
      'metricsSlow',
      Array.from({ length: 60 }, (_, i) => 6_000 + i),
      { failedEvery: 2, sqlstate: '57014' },
    );
    const perf = await performanceReport(ctx.pool, { windowSeconds: 600 });
    expect(perf.transactions).toBeGreaterThanOrEqual(60);
    expect(perf.timedOut).toBeGreaterThanOrEqual(30);
    expect(perf.throughputPerSecond).toBeCloseTo(perf.transactions / 600, 3);
    const alerts = await alertReport(ctx.pool, { windowSeconds: 600 });
    const byName = Object.fromEntries(alerts.alerts.map((x) => [x.name, x]));
    expect(byName.error_rate).toMatchObject({ firing: true, threshold: 0.05 });
    expect(byName.timeout_rate).toMatchObject({ firing: true, threshold: 0.02 });
    expect(byName.p99_latency!.value).toBeGreaterThan(5_000);
    expect(byName.p99_latency!.firing).toBe(true);
    const relaxed = await alertReport(ctx.pool, { windowSeconds: 600 }, { errorRate: 1, timeoutRate: 1, p99Ms: 1e9 });
    expect(relaxed.firing).toBe(0);
  });

  test('txmgr metrics prints the table and --json', async () => {
    await insertRows('metricsCli', [1, 2, 3, 4]);
    const env = stackEnv(ctx.databaseUrl, 'tq-unused');
    const table = await txmgr(['metrics', '--since', '1h', '--operation', 'metricsCli'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/OPERATION\s+COUNT\s+SUCCESS\s+RETRIES\s+P50 MS\s+P95 MS\s+P99 MS/);
    expect(table.stdout).toMatch(/metricsCli\s+4\s+100\.0 %\s+0\s+2\.5/);
    const json = await txmgr(['--json', 'metrics', '--operation', 'metricsCli'], env);
    expect(JSON.parse(json.stdout).operations[0]).toMatchObject({ operation: 'metricsCli', count: 4, p50Ms: 2.5 });
    const bad = await txmgr(['metrics', '--since', 'soon'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ValidationError: .*since/);
  });
});
