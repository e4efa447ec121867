import type { Pool, PoolClient } from 'pg';
import { performance } from 'node:perf_hooks';
import { DomainError } from '../domain/errors';
import { classifyDbError, dbFailure, type DbError } from './errors';
import { insertTransactionMetric } from './queries/metrics';
import { beginChangeSettings, LAST_STAMP_QUERY, observeLastStamp } from './changes';

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  isolation?: Isolation;
  /** Workflow (saga) the transaction works for, recorded in transaction_metrics. */
  workflowId?: string;
  activity?: string;
  /** Activity attempt, so a metric row shows which retry it belongs to. */
  attempt?: number;
  /** Extra in-process tries for serialization failures and deadlocks before giving up. */
  maxLocalRetries?: number;
  /** Write the transaction_metrics row; default: on, unless switched off (setTransactionMetrics, TXMGR_METRICS=off). */
  recordMetrics?: boolean;
}

// On unless TXMGR_METRICS=off: benchmarks measure what the rows cost; production keeps them.
let metricsEnabled = process.env.TXMGR_METRICS !== 'off';

/** Switches transaction_metrics rows on or off for this process (benchmarks alternate both in one run). */
export function setTransactionMetrics(enabled: boolean): void {
  metricsEnabled = enabled;
}

/**
 * Runs `fn` in one database transaction at the given isolation level and records
 * one transaction_metrics row for every try, failed ones included. Serialization
 * failures and deadlocks are retried here a few times (cheap, and nothing has been
 * committed); anything else is classified and thrown.
 */
export async function withTransaction<T>(
  pool: Pool,
  operation: string,
  fn: (client: PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const isolation = options.isolation ?? 'read committed';
  const maxLocalRetries = options.maxLocalRetries ?? 3;
  for (let localTry = 0; ; localTry++) {
    const started = performance.now();
    let failure: DbError | undefined;
    let result: T | undefined;
    let thrown: unknown;
    // Set only after COMMIT: `thrown === undefined` cannot tell success from fn rejecting with undefined.
    let committed = false;
    // Classified exactly as a failure inside the transaction: one rule for both paths.
    const client = await pool.connect().catch((err: unknown) => {
      throw dbFailure(err);
    });
    let broken = false;
    // pg-pool listens for 'error' only on idle clients. If the connection dies while we hold it
    // (server restart, pg_terminate_backend, network), the client emits 'error' with no listener
    // and the whole worker process crashes. Catch it here; the query in flight rejects anyway.
    const onConnectionError = (): void => {
      broken = true;
    };
    client.on('error', onConnectionError);
    try {
      // Same round trip: the session names the operation while the transaction runs (pg_stat_activity, GET /locks),
      // and carries the worker's clock and workflow id for the change log's triggers (./changes).
      await client.query(
        `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}; SET LOCAL application_name = '${sessionName(operation)}'; ` +
          beginChangeSettings(options.workflowId),
      );
      result = await fn(client);
      // Same round trip as COMMIT: the last stamp the triggers gave out, so this clock never goes below it.
      const [stamp] = (await client.query(`${LAST_STAMP_QUERY}; COMMIT`)) as unknown as [{ rows: { hlc: string | null }[] }];
      committed = true;
      observeLastStamp(stamp.rows[0]?.hlc);
    } catch (err) {
      thrown = err ?? new Error(`transaction ${operation} failed without a reason`);
      failure = thrown instanceof DomainError ? undefined : classifyDbError(thrown);
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
    } finally {
      client.off('error', onConnectionError);
      client.release(broken);
    }
    const durationMs = performance.now() - started;
    if (options.recordMetrics ?? metricsEnabled) {
      await insertTransactionMetric(pool, {
        operation,
        workflowId: options.workflowId,
        activity: options.activity,
        durationMs,
        success: committed,
        error: committed ? undefined : errorText(thrown),
        sqlstate: failure?.sqlstate,
        attempt: options.attempt ?? 1,
        localRetry: localTry,
        isolation,
      }).catch(() => undefined); // metrics must never fail the business transaction
    }
    if (committed) return result as T;
    if (failure && (failure.kind === 'serialization_failure' || failure.kind === 'deadlock') && localTry < maxLocalRetries) {
      await new Promise((r) => setTimeout(r, 5 * 2 ** localTry + Math.random() * 10));
      continue;
    }
    // Domain errors and errors the classifier does not know pass through untouched.
    throw failure ? dbFailure(thrown) : thrown;
  }
}

/** `txmgr-op:<operation>`, cut to PostgreSQL's 63 bytes, only characters that need no quoting. */
export const OPERATION_SESSION_PREFIX = 'txmgr-op:';
const sessionName = (operation: string): string =>
  `${OPERATION_SESSION_PREFIX}${operation.replace(/[^A-Za-z0-9_.:-]/g, '_')}`.slice(0, 63);

function errorText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.slice(0, 2000);
}
