import type { Pool } from 'pg';

/** Figures per operation over transaction_metrics; the percentiles are computed by PostgreSQL. */
export interface OperationMetricsRow {
  operation: string;
  count: number;
  succeeded: number;
  failed: number;
  /** Tries that were not the first: a later activity attempt, or an in-process retry. */
  retries: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface MetricsFilter {
  since: Date;
  operation?: string;
}

export async function operationMetrics(pool: Pool, f: MetricsFilter): Promise<OperationMetricsRow[]> {
  const { rows } = await pool.query<OperationMetricsRow>(
    `SELECT operation,
            count(*)::int AS count,
            (count(*) FILTER (WHERE success))::int AS succeeded,
            (count(*) FILTER (WHERE NOT success))::int AS failed,
            (count(*) FILTER (WHERE attempt > 1 OR local_retry > 0))::int AS retries,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
            max(duration_ms) AS max_ms
       FROM transaction_metrics
      WHERE created_at >= $1 AND ($2::text IS NULL OR operation = $2)
      GROUP BY operation
      ORDER BY operation`,
    [f.since, f.operation ?? null],
  );
  return rows;
}

/** SQLSTATEs that mean a database transaction ran out of time (statement, lock or idle timeouts). */
export const TIMEOUT_SQLSTATES = ['57014', '55P03', '25P03'];

/** All operations together over a window: throughput, failures, timeouts and latency percentiles. */
export interface WindowFiguresRow {
  count: number;
  succeeded: number;
  failed: number;
  timed_out: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
}

export async function windowFigures(pool: Pool, since: Date): Promise<WindowFiguresRow> {
  const { rows } = await pool.query<WindowFiguresRow>(
    `SELECT count(*)::int AS count,
            (count(*) FILTER (WHERE success))::int AS succeeded,
            (count(*) FILTER (WHERE NOT success))::int AS failed,
            (count(*) FILTER (WHERE NOT success AND (sqlstate = ANY($2) OR error ILIKE '%timeout%')))::int AS timed_out,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
            max(duration_ms) AS max_ms
       FROM transaction_metrics
      WHERE created_at >= $1`,
    [since, TIMEOUT_SQLSTATES],
  );
  return rows[0] as WindowFiguresRow;
}
