import { ApplicationFailure, Context } from '@temporalio/activity';
import { DomainError, toApplicationFailure } from '../domain/errors';
import { DbError } from '../db/errors';
import { withTransaction, type Isolation } from '../db/transaction';
import type { Logger } from '../logger';
import type { ActivityDeps } from './deps';

/** Who is running: the workflow, activity and attempt, when inside an activity. */
export interface ActivityScope {
  workflowId?: string;
  runId?: string;
  activity?: string;
  attempt: number;
  logger: Logger;
}

export function currentScope(deps: ActivityDeps, name: string): ActivityScope {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    ctx = undefined; // called directly (a test or a script), not by a worker
  }
  const info = ctx?.info;
  const scope = {
    workflowId: info?.workflowExecution?.workflowId,
    runId: info?.workflowExecution?.runId,
    activity: info?.activityType ?? name,
    attempt: info?.attempt ?? 1,
  };
  return { ...scope, logger: deps.logger.child(scope) };
}

/**
 * The one place errors leave an activity: domain errors and permanent database
 * errors become non-retryable ApplicationFailures; transient ones are rethrown so
 * Temporal retries them.
 */
export function toActivityError(err: unknown): unknown {
  if (err instanceof DomainError) return toApplicationFailure(err);
  if (err instanceof DbError && !err.retryable) {
    return ApplicationFailure.create({
      type: 'DatabaseRejected',
      message: `database refused the change (${err.kind}${err.constraint ? ` on ${err.constraint}` : ''}): ${err.message}`,
      nonRetryable: true,
    });
  }
  return err;
}

/**
 * Wraps an activity body: binds a child logger, runs `fn` in one database
 * transaction (recorded in transaction_metrics) and converts errors at the edge.
 */
export function transactional<I, O>(
  deps: ActivityDeps,
  name: string,
  fn: (input: I, tx: import('pg').PoolClient, scope: ActivityScope) => Promise<O>,
  isolation: Isolation = 'read committed',
): (input: I) => Promise<O> {
  return async (input: I) => {
    const scope = currentScope(deps, name);
    try {
      const result = await withTransaction(deps.pool, name, (tx) => fn(input, tx, scope), {
        isolation,
        workflowId: scope.workflowId,
        activity: scope.activity,
        attempt: scope.attempt,
      });
      scope.logger.debug(`${name} committed`);
      return result;
    } catch (err) {
      scope.logger.warn({ err }, `${name} failed`);
      throw toActivityError(err);
    }
  };
}
