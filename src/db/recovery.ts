import type { Pool } from 'pg';
import type { Resource } from '../domain/operations';
import { GID_PATTERN } from '../domain/tx-ids';
import { decideTxTransaction, findTxTransactionByGidKey } from './queries/tx-transactions';
import { commitPrepared, rollbackPrepared } from './two-phase';

/**
 * In-doubt recovery: every prepared transaction of txmgr in the resource databases, with
 * its workflow's decision (tx_transactions in the ledger database), and what to do about it.
 * A decision is carried out; without one, a transaction whose record is missing, whose
 * workflow is gone or closed, or that is past its deadline is rolled back — after recording
 * the rollback decision first (first decision wins), so recovery never races the workflow
 * into opposite outcomes. `txmgr recovery` and the worker's scheduled check both call this.
 */

export interface ResourcePools {
  ledger: Pool;
  custody?: Pool;
}

export interface InDoubt {
  gid: string;
  resource: Resource;
  database: string;
  preparedAt: string;
  ageSeconds: number;
  transactionId?: string;
  workflowId?: string;
  decision?: 'commit' | 'rollback';
  deadlineAt?: string;
  workflowRunning?: boolean;
  action: 'commit' | 'rollback' | 'wait';
  reason: string;
}

export interface RecoveryOptions {
  /** Whether the workflow is still running; undefined when it cannot be told (then only the deadline counts). */
  isWorkflowRunning?: (workflowId: string) => Promise<boolean | undefined>;
  now?: () => Date;
}

export async function listInDoubt(pools: ResourcePools, o: RecoveryOptions = {}): Promise<InDoubt[]> {
  const now = (o.now ?? (() => new Date()))();
  const found: InDoubt[] = [];
  for (const resource of ['ledger', 'custody'] as const) {
    const pool = pools[resource];
    if (!pool) continue;
    const { rows } = await pool.query<{ gid: string; prepared: Date; database: string }>(
      `SELECT gid, prepared, database FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE 'txmgr:%' ORDER BY prepared`,
    );
    for (const r of rows) {
      const match = GID_PATTERN.exec(r.gid);
      if (!match || match[2] !== resource) continue;
      const tx = await findTxTransactionByGidKey(pools.ledger, match[1] as string);
      const base = {
        gid: r.gid,
        resource,
        database: r.database,
        preparedAt: r.prepared.toISOString(),
        ageSeconds: Math.max(0, Math.round((now.getTime() - r.prepared.getTime()) / 1000)),
      };
      if (!tx) {
        found.push({ ...base, action: 'rollback', reason: 'no transaction record: an orphan' });
        continue;
      }
      const running = tx.decision ? undefined : await o.isWorkflowRunning?.(tx.workflow_id);
      const entry = {
        ...base,
        transactionId: tx.id,
        workflowId: tx.workflow_id,
        decision: tx.decision ?? undefined,
        deadlineAt: tx.deadline_at.toISOString(),
        workflowRunning: running,
      };
      if (tx.decision) found.push({ ...entry, action: tx.decision, reason: `the workflow decided ${tx.decision}` });
      else if (tx.deadline_at.getTime() <= now.getTime())
        found.push({ ...entry, action: 'rollback', reason: 'no decision before its deadline' });
      else if (running === false) found.push({ ...entry, action: 'rollback', reason: 'its workflow is gone without a decision' });
      else found.push({ ...entry, action: 'wait', reason: 'its workflow is still deciding' });
    }
  }
  return found;
}

export interface Resolved extends InDoubt {
  outcome: 'committed' | 'rolled back' | 'left' | 'failed';
  error?: string;
}

/** Resolves every in-doubt transaction `listInDoubt` finds; one failure does not stop the others. */
export async function resolveInDoubt(pools: ResourcePools, o: RecoveryOptions = {}): Promise<Resolved[]> {
  const results: Resolved[] = [];
  for (const entry of await listInDoubt(pools, o)) {
    const pool = pools[entry.resource] as Pool;
    try {
      let action = entry.action;
      if (action === 'rollback' && !entry.decision && entry.transactionId) {
        // Record the rollback first: should the workflow have decided commit meanwhile, that decision stands.
        action = (await decideTxTransaction(pools.ledger, entry.transactionId, 'rollback', 'recovery')) ?? 'rollback';
      }
      if (action === 'wait') results.push({ ...entry, outcome: 'left' });
      else if (action === 'commit') results.push({ ...entry, action, outcome: await commitPrepared(pool, entry.gid) });
      else results.push({ ...entry, action, outcome: await rollbackPrepared(pool, entry.gid, entry.transactionId ?? 'orphan') });
    } catch (err) {
      results.push({ ...entry, outcome: 'failed', error: err instanceof Error ? err.message : String(err) });
    }
  }
  return results;
}
