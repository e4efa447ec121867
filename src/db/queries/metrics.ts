import { escapeLiteral, type Pool } from 'pg';

export interface TransactionMetric {
  operation: string;
  workflowId?: string;
  activity?: string;
  durationMs: number;
  success: boolean;
  error?: string;
  sqlstate?: string;
  /** The activity's attempt (Temporal's retries). */
  attempt: number;
  /** In-process retries of serialization failures/deadlocks within that attempt. */
  localRetry: number;
  isolation: string;
}

export async function insertTransactionMetric(pool: Pool, m: TransactionMetric): Promise<void> {
  await pool.query(
    `INSERT INTO transaction_metrics (operation, workflow_id, activity, duration_ms, success, error, sqlstate, attempt, local_retry, isolation)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    [
      m.operation,
      m.workflowId ?? null,
      m.activity ?? null,
      m.durationMs,
      m.success,
      m.error ?? null,
      m.sqlstate ?? null,
      m.attempt,
      m.localRetry,
      m.isolation,
    ],
  );
}

const COLUMNS = 'operation, workflow_id, activity, duration_ms, success, error, sqlstate, attempt, local_retry, isolation';

/**
 * The same row as one literal statement, for sending in the round trip that commits the
 * transaction it measures (a simple query cannot carry parameters). Values are escaped and
 * made valid for the table's checks, so the statement cannot fail on its data; `created_at`
 * is the statement's own clock, not the transaction's start.
 */
export function transactionMetricStatement(m: TransactionMetric): string {
  const text = (v: string | undefined) => (v === undefined ? 'NULL' : escapeLiteral(v.replaceAll('\u0000', '')));
  const whole = (v: number, min: number) => String(Number.isSafeInteger(v) && v >= min ? v : min);
  const duration = Number.isFinite(m.durationMs) && m.durationMs > 0 ? m.durationMs.toFixed(3) : '0';
  const values = [
    text(m.operation),
    text(m.workflowId),
    text(m.activity),
    duration,
    m.success ? 'true' : 'false',
    text(m.error),
    text(m.sqlstate),
    whole(m.attempt, 1),
    whole(m.localRetry, 0),
    text(m.isolation),
    'clock_timestamp()',
  ];
  return `INSERT INTO transaction_metrics (${COLUMNS}, created_at) VALUES (${values.join(', ')})`;
}
