import type { Pool } from 'pg';
import { z } from 'zod';
import { validationError } from '../domain/errors';
import { describeIssues } from '../domain/schemas';
import { operationMetrics, windowFigures } from '../db/queries/metrics-report';

/**
 * Transaction metrics as people and the HTTP API read them: figures per operation from
 * transaction_metrics (one row per database transaction try), percentiles computed by PostgreSQL.
 */

const DURATION = /^([1-9][0-9]{0,6})(s|m|h|d)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DEFAULT_SINCE = '24h';

/** "15m", "24h", "7d" back from now, or an ISO time such as 2026-12-06T00:00:00Z. */
export const sinceText = z
  .string({ error: 'since must be a duration such as "15m" or "24h", or an ISO time' })
  .trim()
  .refine(
    (v) => DURATION.test(v) || (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(Date.parse(v))),
    'since must be a duration such as "15m", "24h" or "7d", or an ISO time such as 2026-12-06T00:00:00Z',
  );

export const operationName = z
  .string({ error: 'operation must be a string' })
  .trim()
  .min(1, 'operation must not be empty')
  .max(200, 'operation must be at most 200 characters')
  .regex(/^[A-Za-z0-9_.:-]+$/, 'operation may hold letters, digits and _ . : - only');

export const MetricsRequest = z
  .object({
    since: sinceText.optional().describe('duration back from now ("15m", "24h", "7d") or an ISO time; default 24h'),
    operation: operationName.optional().describe('only this operation'),
  })
  .strict();
export type MetricsRequest = z.input<typeof MetricsRequest>;

export interface OperationMetrics {
  operation: string;
  count: number;
  succeeded: number;
  failed: number;
  /** succeeded / count, 0..1 */
  successRate: number;
  retries: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface MetricsReport {
  since: string;
  operation: string | null;
  operations: OperationMetrics[];
}

const ms = (v: number | null | undefined): number => Math.round((v ?? 0) * 1000) / 1000;

export function sinceDate(since: string, now: Date = new Date()): Date {
  const m = DURATION.exec(since);
  if (!m) return new Date(since);
  return new Date(now.getTime() - Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const field = parsed.error.issues[0]?.path.join('.') || undefined;
    throw validationError(`invalid ${what}: ${describeIssues(parsed.error)}`, field ? { field } : undefined);
  }
  return parsed.data;
}

/** Per operation: count, success rate, retries and p50/p95/p99 duration, since a time. */
export async function transactionMetrics(pool: Pool, request: MetricsRequest = {}): Promise<MetricsReport> {
  const r = parse(MetricsRequest, request, 'metrics request');
  const since = sinceDate(r.since ?? DEFAULT_SINCE);
  const rows = await operationMetrics(pool, { since, operation: r.operation });
  return {
    since: since.toISOString(),
    operation: r.operation ?? null,
    operations: rows.map((row) => ({
      operation: row.operation,
      count: row.count,
      succeeded: row.succeeded,
      failed: row.failed,
      successRate: row.count ? Math.round((row.succeeded / row.count) * 10_000) / 10_000 : 0,
      retries: row.retries,
      p50Ms: ms(row.p50_ms),
      p95Ms: ms(row.p95_ms),
      p99Ms: ms(row.p99_ms),
      maxMs: ms(row.max_ms),
    })),
  };
}

export const WindowRequest = z
  .object({
    windowSeconds: z.coerce
      .number({ error: 'windowSeconds must be a whole number of seconds' })
      .int('windowSeconds must be a whole number of seconds')
      .min(1, 'windowSeconds must be at least 1')
      .max(30 * 86_400, 'windowSeconds must be at most 30 days')
      .default(300)
      .describe('the window, in seconds back from now; default 300'),
  })
  .strict();
export type WindowRequest = z.input<typeof WindowRequest>;

export interface PerformanceReport {
  windowSeconds: number;
  since: string;
  transactions: number;
  committed: number;
  failed: number;
  timedOut: number;
  /** Database transactions (tries) per second over the window, and those committed. */
  throughputPerSecond: number;
  committedPerSecond: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

const orNull = (v: number | null): number | null => (v === null ? null : ms(v));
const rate = (n: number, d: number): number => Math.round((n / d) * 1000) / 1000;

/** Throughput and latency percentiles of every database transaction over a window. */
export async function performanceReport(pool: Pool, request: WindowRequest = {}): Promise<PerformanceReport> {
  const { windowSeconds } = parse(WindowRequest, request, 'performance request');
  const since = new Date(Date.now() - windowSeconds * 1000);
  const f = await windowFigures(pool, since);
  return {
    windowSeconds,
    since: since.toISOString(),
    transactions: f.count,
    committed: f.succeeded,
    failed: f.failed,
    timedOut: f.timed_out,
    throughputPerSecond: rate(f.count, windowSeconds),
    committedPerSecond: rate(f.succeeded, windowSeconds),
    p50Ms: orNull(f.p50_ms),
    p95Ms: orNull(f.p95_ms),
    p99Ms: orNull(f.p99_ms),
    maxMs: orNull(f.max_ms),
  };
}

export interface AlertThresholds {
  /** Failed share of database transactions, 0..1; default 0.05. */
  errorRate: number;
  /** Timed-out share, 0..1; default 0.02. */
  timeoutRate: number;
  /** p99 duration in ms; default 5000. */
  p99Ms: number;
}
export const DEFAULT_ALERT_THRESHOLDS: AlertThresholds = { errorRate: 0.05, timeoutRate: 0.02, p99Ms: 5_000 };

export interface Alert {
  name: 'error_rate' | 'timeout_rate' | 'p99_latency';
  firing: boolean;
  value: number;
  threshold: number;
  message: string;
}

export interface AlertReport {
  windowSeconds: number;
  transactions: number;
  firing: number;
  alerts: Alert[];
}

/** The three standard alerts over a window, each with its value and threshold. */
export async function alertReport(
  pool: Pool,
  request: WindowRequest = {},
  thresholds: AlertThresholds = DEFAULT_ALERT_THRESHOLDS,
): Promise<AlertReport> {
  const p = await performanceReport(pool, request);
  const share = (n: number) => (p.transactions ? Math.round((n / p.transactions) * 10_000) / 10_000 : 0);
  const pct = (v: number) => `${Math.round(v * 10_000) / 100} %`;
  const errorRate = share(p.failed);
  const timeoutRate = share(p.timedOut);
  const p99 = p.p99Ms ?? 0;
  const window = `over the last ${p.windowSeconds}s`;
  const alerts: Alert[] = [
    {
      name: 'error_rate',
      firing: errorRate > thresholds.errorRate,
      value: errorRate,
      threshold: thresholds.errorRate,
      message: `${pct(errorRate)} of ${p.transactions} database transactions failed ${window} (threshold ${pct(thresholds.errorRate)})`,
    },
    {
      name: 'timeout_rate',
      firing: timeoutRate > thresholds.timeoutRate,
      value: timeoutRate,
      threshold: thresholds.timeoutRate,
      message: `${pct(timeoutRate)} timed out ${window} (threshold ${pct(thresholds.timeoutRate)})`,
    },
    {
      name: 'p99_latency',
      firing: p99 > thresholds.p99Ms,
      value: p99,
      threshold: thresholds.p99Ms,
      message: `p99 duration ${p99} ms ${window} (threshold ${thresholds.p99Ms} ms)`,
    },
  ];
  return { windowSeconds: p.windowSeconds, transactions: p.transactions, firing: alerts.filter((a) => a.firing).length, alerts };
}
