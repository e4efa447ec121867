import type { Pool, PoolClient, QueryResult } from 'pg';
import { performance } from 'node:perf_hooks';
import { DomainError } from '../domain/errors';
import { classifyDbError, dbFailure, type DbError } from './errors';
import { insertTransactionMetric, transactionMetricStatement, type TransactionMetric } from './queries/metrics';
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
  /** How long a statement waits for a lock before the try fails retryably (55P03); default setLockTimeout's. */
  lockTimeoutMs?: number;
  /** Write the transaction_metrics row; default: on, unless switched off (setTransactionMetrics, TXMGR_METRICS=off). */
  recordMetrics?: boolean;
}

// On unless TXMGR_METRICS=off: benchmarks measure what the rows cost; production keeps them.
let metricsEnabled = process.env.TXMGR_METRICS !== 'off';

/** Switches transaction_metrics rows on or off for this process (benchmarks alternate both in one run). */
export function setTransactionMetrics(enabled: boolean): void {
  metricsEnabled = enabled;
}

// A lock wait must end well before the activity's start-to-close (30 s) does, and a worker slot
// must not be spent waiting long on a lock held across round trips (a prepared 2pc waits for its
// decision and commit activities, which need slots): a try blocked on a row lock fails after this,
// frees its slot, and is retried with backoff. Short waits behind ordinary transactions (milliseconds)
// are untouched. PostgreSQL applies it to each lock wait, so a statement locking several rows may wait
// a few times this.
let lockTimeoutMs = 2_000;

/** The lock wait of every transaction of this process that does not set its own (the worker's DB_LOCK_TIMEOUT_MS). */
export function setLockTimeout(ms: number): void {
  if (!Number.isInteger(ms) || ms < 1) throw new RangeError(`lock timeout must be a positive whole number of ms, not ${ms}`);
  lockTimeoutMs = ms;
}

/** The process's lock wait (setLockTimeout's): for transactions this module does not open (a 2pc prepare). */
export const currentLockTimeout = (): number => lockTimeoutMs;

/**
 * Runs `fn` in one database transaction at the given isolation level and records
 * one transaction_metrics row for every try, failed ones included. Serialization
 * failures and deadlocks are retried here a few times (cheap, and nothing has been
 * committed); anything else is classified and thrown.
 *
 * A committed try's row is written inside the transaction, in the same round trip as its
 * COMMIT (no second connection, round trip or commit; the row exists exactly when the work
 * does), so its duration runs from asking for a connection to the end of `fn`. A failed
 * try's row is written after the rollback. The row sits behind a savepoint: should it ever
 * be refused, the work still commits and the row is written on its own afterwards.
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
    const record = options.recordMetrics ?? metricsEnabled;
    const metric = (success: boolean): TransactionMetric => ({
      operation,
      workflowId: options.workflowId,
      activity: options.activity,
      durationMs: performance.now() - started,
      success,
      error: success ? undefined : errorText(thrown),
      sqlstate: failure?.sqlstate,
      attempt: options.attempt ?? 1,
      localRetry: localTry,
      isolation,
    });
    let metricPending = record;
    const swallowed = () =>
      new Error(`transaction ${operation} failed inside (a statement error was caught) and was rolled back`);
    try {
      // Same round trip: the session names the operation while the transaction runs (pg_stat_activity, GET /locks),
      // and carries the worker's clock and workflow id for the change log's triggers (./changes).
      await client.query(
        `BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}; SET LOCAL application_name = '${sessionName(operation)}'; ` +
          `SET LOCAL lock_timeout = ${lockWait(options.lockTimeoutMs)}; ` +
          beginChangeSettings(options.workflowId),
      );
      result = await fn(client);
      // A statement error that `fn` caught leaves the transaction failed: COMMIT would quietly roll it back.
      if (client.getTransactionStatus() === 'E') throw swallowed();
      // Same round trip as COMMIT: the last stamp the triggers gave out, so this clock never goes below it.
      let stamp: string | null;
      if (record) {
        // 25P02: the session learnt of the failed state only now (pg answers an error before its state).
        const done = await commitWithMetric(client, transactionMetricStatement(metric(true))).catch((err: unknown) => {
          throw (err as { code?: string })?.code === '25P02' ? swallowed() : err;
        });
        metricPending = !done.metricCommitted;
        stamp = done.stamp;
      } else {
        const results = (await client.query(`${LAST_STAMP_QUERY}; COMMIT`)) as unknown as QueryResult[];
        if (lastCommand(results) !== 'COMMIT') throw swallowed();
        stamp = stampOf(results);
      }
      committed = true;
      observeLastStamp(stamp);
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
    if (metricPending) {
      // A failed try, or a committed one whose row the savepoint turned away: written on its own.
      await insertTransactionMetric(pool, metric(committed)).catch(() => undefined); // never fails the business transaction
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

/**
 * A transaction that wrote nothing would commit without waiting for a WAL flush; its metrics
 * row alone must not add that wait (on a busy disk it is most of a commit's cost). Such a
 * row commits asynchronously: only a database crash within a fraction of a second could lose
 * it, and the transaction it describes changed nothing. A writing transaction's row is
 * flushed with its work.
 */
const READ_ONLY_ASYNC = "SELECT set_config('synchronous_commit', 'off', true) WHERE pg_current_xact_id_if_assigned() IS NULL";

/**
 * `SAVEPOINT; INSERT metric; RELEASE; COMMIT` as one simple query (one round trip). True when
 * the row committed with the work. When the INSERT is refused the rest of the string is
 * skipped and the transaction waits in the failed state: back to the savepoint and commit
 * the work alone (false: the caller writes the row afterwards). An error of COMMIT itself
 * (a serialization failure at commit) ends the transaction and is thrown as the try's failure.
 */
async function commitWithMetric(
  client: PoolClient,
  insertMetric: string,
): Promise<{ metricCommitted: boolean; stamp: string | null }> {
  try {
    const results = (await client.query(
      `${LAST_STAMP_QUERY}; SAVEPOINT txmgr_metric; ${READ_ONLY_ASYNC}; ${insertMetric}; RELEASE SAVEPOINT txmgr_metric; COMMIT`,
    )) as unknown as QueryResult[];
    return { metricCommitted: true, stamp: stampOf(results) };
  } catch (err) {
    // pg rejects on the error itself, before the server says what state the session is in:
    // ask by trying. Only a refused INSERT leaves the savepoint to go back to.
    const recovered = await client.query(`ROLLBACK TO SAVEPOINT txmgr_metric; ${LAST_STAMP_QUERY}; COMMIT`).then(
      (results) =>
        lastCommand(results) === 'COMMIT'
          ? { metricCommitted: false, stamp: stampOf(results as unknown as QueryResult[]) }
          : undefined,
      () => undefined,
    );
    if (!recovered) throw err;
    return recovered;
  }
}

/** The change log's last stamp of this transaction, read by LAST_STAMP_QUERY (the first result). */
const stampOf = (results: QueryResult[]): string | null =>
  (results.find((r) => r.command === 'SELECT' && r.fields[0]?.name === 'hlc')?.rows[0] as { hlc?: string | null } | undefined)
    ?.hlc ?? null;

const lastCommand = (results: QueryResult | QueryResult[]): string | undefined =>
  (Array.isArray(results) ? results[results.length - 1] : results)?.command;

const lockWait = (ms: number | undefined): number => (ms !== undefined && Number.isInteger(ms) && ms > 0 ? ms : lockTimeoutMs);

/** `txmgr-op:<operation>`, cut to PostgreSQL's 63 bytes, only characters that need no quoting. */
export const OPERATION_SESSION_PREFIX = 'txmgr-op:';
const sessionName = (operation: string): string =>
  `${OPERATION_SESSION_PREFIX}${operation.replace(/[^A-Za-z0-9_.:-]/g, '_')}`.slice(0, 63);

function errorText(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.slice(0, 2000);
}
