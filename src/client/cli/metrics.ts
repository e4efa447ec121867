import type { Command } from 'commander';
import { DEFAULT_SINCE, transactionMetrics } from '../metrics';
import { handler } from './command';
import { note, printJson, printTable } from './printer';

const millis = (v: number) => v.toFixed(v >= 100 ? 0 : 1);

/** `txmgr metrics [--since] [--operation]`: per operation figures of the database transactions. */
export function registerMetricsCommand(program: Command): void {
  program
    .command('metrics')
    .description('database transactions per operation: count, success rate, retries, p50/p95/p99 duration (ms)')
    .option('--since <when>', `a duration back from now (15m, 24h, 7d) or an ISO time (default ${DEFAULT_SINCE})`)
    .option('--operation <name>', 'only this operation')
    .action(
      handler(async (ctx, out, o: { since?: string; operation?: string }) => {
        const report = await transactionMetrics(await ctx.db(), { since: o.since, operation: o.operation });
        if (out.json) return printJson(report);
        note(`since ${report.since}${report.operation ? `, operation ${report.operation}` : ''}`);
        printTable(
          [
            ['operation', 'OPERATION'],
            ['count', 'COUNT'],
            ['success', 'SUCCESS'],
            ['retries', 'RETRIES'],
            ['p50', 'P50 MS'],
            ['p95', 'P95 MS'],
            ['p99', 'P99 MS'],
          ],
          report.operations.map((m) => ({
            operation: m.operation,
            count: m.count,
            success: `${(m.successRate * 100).toFixed(1)} %`,
            retries: m.retries,
            p50: millis(m.p50Ms),
            p95: millis(m.p95Ms),
            p99: millis(m.p99Ms),
          })),
        );
      }),
    );
}
