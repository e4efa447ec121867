import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { TxmgrClient } from '../client';
import type { TransactionResult } from '../domain/operations';
import { sagaStatusQuery, type SagaState } from '../workflows/saga';
import { readableResult, WORKFLOW_KINDS, type WorkflowKindName } from './workflow-kinds';

export interface Outcome {
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'TIMED_OUT';
  result?: unknown;
  error?: { type: string; message: string };
}

const QUERY_DEADLINE_MS = 3_000;

/** A saga's end as the API reports it: its result, or the domain error it failed with (and what it carries). */
export function outcomeOf(err: unknown, workflowType?: string): Outcome {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause;
    if (cause instanceof TerminatedFailure)
      return { status: 'TERMINATED', error: { type: 'Terminated', message: 'the saga was terminated' } };
    if (cause instanceof CancelledFailure)
      return { status: 'CANCELLED', error: { type: 'Cancelled', message: 'the saga was cancelled' } };
    if (cause instanceof TimeoutFailure)
      return { status: 'TIMED_OUT', error: { type: 'Timeout', message: 'the saga ran out of time' } };
    if (cause instanceof ApplicationFailure) {
      const result = workflowType ? WORKFLOW_KINDS[workflowType]?.failedResult?.(cause.details ?? undefined) : undefined;
      return {
        status: 'FAILED',
        error: { type: cause.type ?? 'Failed', message: cause.message },
        ...(result === undefined ? {} : { result }),
      };
    }
    return { status: 'FAILED', error: { type: 'Failed', message: cause?.message ?? err.message } };
  }
  throw err;
}

/**
 * Waits at most `seconds` for the outcome of a workflow of type `workflowType` (its result
 * made readable). Giving up only stops waiting: the saga goes on, untouched. undefined when
 * it is still running.
 */
export async function waitForOutcome(
  client: TxmgrClient,
  workflowId: string,
  seconds: number,
  workflowType?: string,
): Promise<Outcome | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), seconds * 1000);
  let result: unknown;
  try {
    result = await client.temporal.withAbortSignal(controller.signal, () =>
      client.temporal.workflow.getHandle(workflowId).result(),
    );
  } catch (err) {
    if (controller.signal.aborted) return undefined;
    return outcomeOf(err, workflowType);
  } finally {
    clearTimeout(timer);
  }
  return { status: 'COMPLETED', result: workflowType ? await readableResult(client, workflowType, result) : result };
}

export interface SagaStatusView {
  workflowId: string;
  workflowType: string;
  /** deposit, trade, withdrawal, campaign, transaction; null for another workflow. */
  kind: WorkflowKindName | null;
  /** Temporal's status: RUNNING, COMPLETED, FAILED, … */
  status: string;
  taskQueue: string;
  startedAt: string;
  closedAt: string | null;
  /** The saga's own status, or a transaction's (COMMITTED, ROLLED_BACK, …); null when no worker answered. */
  state: string | null;
  /** Steps done and compensations run, from the sagaStatus query (null for atomic and 2pc transactions, which have none). */
  saga: SagaState | null;
  /** The workflow's own state: the order, the withdrawal's progress, the campaign, the transaction's operations. */
  detail: Record<string, unknown> | null;
  outcome: Outcome | null;
}

const CLOSED_CACHE_SIZE = 1000;

/**
 * A closed run's view never changes: kept by workflow and run id (the newest 1000), so polling a
 * finished saga costs one describe, not a worker replaying its history for the query.
 */
export class ClosedSagaViews {
  private readonly views = new Map<string, SagaStatusView>();
  get(workflowId: string, runId: string): SagaStatusView | undefined {
    return this.views.get(`${workflowId}/${runId}`);
  }
  set(workflowId: string, runId: string, view: SagaStatusView): void {
    this.views.set(`${workflowId}/${runId}`, view);
    if (this.views.size > CLOSED_CACHE_SIZE) this.views.delete(this.views.keys().next().value as string);
  }
}

const FAILED = Symbol('query failed');

/** GET /status/{id}: describe, the saga's and the workflow's own queries, and the outcome once closed. */
export async function sagaStatusView(client: TxmgrClient, workflowId: string, closed?: ClosedSagaViews): Promise<SagaStatusView> {
  const temporal = client.temporal;
  const handle = temporal.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const known = closed?.get(workflowId, d.runId);
  if (known) return known;
  const kind = WORKFLOW_KINDS[d.type];
  const bounded = <T>(fn: () => Promise<T>): Promise<T | typeof FAILED> =>
    temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, fn).catch(() => FAILED);
  const detailOf = kind?.detail;
  const askDetail = () => (detailOf ? bounded(() => detailOf(client, handle, workflowId)) : Promise.resolve(null));
  const askSaga = () => bounded(() => handle.query(sagaStatusQuery));
  let detail: object | null | typeof FAILED;
  let saga: SagaState | null | typeof FAILED;
  let transaction: TransactionResult | null | undefined;
  if (kind?.kind === 'transaction') {
    detail = await askDetail();
    transaction = detail === FAILED ? undefined : (detail as TransactionResult | null);
    // Atomic and 2pc transactions are no sagas: nothing to ask (nothing is compensated, the database rolls back).
    saga = transaction && transaction.mode !== 'saga' ? null : await askSaga();
  } else {
    [detail, saga] = await Promise.all([askDetail(), askSaga()]);
  }
  let outcome: Outcome | null = null;
  if (d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW') {
    outcome = await handle.result().then(
      async (result: unknown): Promise<Outcome> => ({
        status: 'COMPLETED',
        result: await readableResult(client, d.type, result),
      }),
      (err: unknown) => outcomeOf(err, d.type),
    );
  }
  const sagaState = saga === FAILED ? null : saga;
  const view: SagaStatusView = {
    workflowId,
    workflowType: d.type,
    kind: kind?.kind ?? null,
    status: d.status.name,
    taskQueue: d.taskQueue,
    startedAt: d.startTime.toISOString(),
    closedAt: d.closeTime?.toISOString() ?? null,
    state: transaction?.status ?? sagaState?.status ?? null,
    saga: sagaState,
    detail: detail === FAILED ? null : (detail as Record<string, unknown> | null),
    outcome,
  };
  if (outcome && saga !== FAILED && detail !== FAILED) closed?.set(workflowId, d.runId, view);
  return view;
}
