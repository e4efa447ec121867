import type { Pool } from 'pg';

export interface TransactionMetric {
  operation: string;
  workflowId?: string;
  activity?: string;
  durationMs: number;
  success: boolean;
  error?: string;
  sqlstate?: string;
  attempt: number;
  isolation: string;
}

export async function insertTransactionMetric(pool: Pool, m: TransactionMetric): Promise<void> {
  await pool.query(
    `INSERT INTO transaction_metrics (operation, workflow_id, activity, duration_ms, success, error, sqlstate, attempt, isolation)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [m.operation, m.workflowId ?? null, m.activity ?? null, m.durationMs, m.success, m.error ?? null, m.sqlstate ?? null, m.attempt, m.isolation],
  );
}
