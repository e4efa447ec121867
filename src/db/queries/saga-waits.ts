import type { Pool } from 'pg';

/**
 * Why a saga that runs long is waiting by design, from the rows it owns: a resting order
 * waits for fills, a scheduled or active campaign for its end. Undefined: no such wait,
 * so running long means something is wrong.
 */
export async function findDesignedWait(pool: Pool, workflowId: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ what: string }>(
    `SELECT 'a resting order (' || market || ' ' || side || '), open until filled, cancelled or expired' AS what
       FROM orders WHERE workflow_id = $1 AND status = 'open'
     UNION ALL
     SELECT 'a ' || status || ' campaign, running until ' || to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS what
       FROM campaigns WHERE workflow_id = $1 AND status IN ('scheduled', 'active') AND ends_at > now()
     LIMIT 1`,
    [workflowId],
  );
  return rows[0]?.what;
}
