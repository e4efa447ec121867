import type { Pool } from 'pg';

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
