import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure, TerminatedFailure, TimeoutFailure } from '@temporalio/common';
import type { TxmgrClient } from '../client';
import { sagaStatusQuery, type SagaState } from '../workflows/saga';

export interface Outcome {
  status: 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'TIMED_OUT';
  result?: unknown;
  error?: { type: string; message: string };
}

const QUERY_DEADLINE_MS = 3_000;

/** A saga's end as the API reports it: its result, or the domain error it failed with. */
export function outcomeOf(err: unknown): Outcome {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause;
    if (cause instanceof TerminatedFailure)
      return { status: 'TERMINATED', error: { type: 'Terminated', message: 'the saga was terminated' } };
    if (cause instanceof CancelledFailure)
      return { status: 'CANCELLED', error: { type: 'Cancelled', message: 'the saga was cancelled' } };
    if (cause instanceof TimeoutFailure)
      return { status: 'TIMED_OUT', error: { type: 'Timeout', message: 'the saga ran out of time' } };
    if (cause instanceof ApplicationFailure) {
      return { status: 'FAILED', error: { type: cause.type ?? 'Failed', message: cause.message } };
    }
    return { status: 'FAILED', error: { type: 'Failed', message: cause?.message ?? err.message } };
  }
  throw err;
}

/**
 * Waits at most `seconds` for the saga's outcome. Giving up only stops waiting: the saga
 * goes on, untouched. undefined when it is still running.
 */
export async function waitForOutcome(
  client: TxmgrClient,
  workflowId: string,
  seconds: number,
  readable: (result: unknown) => Promise<unknown> = async (r) => r,
): Promise<Outcome | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), seconds * 1000);
  try {
    const result: unknown = await client.temporal.withAbortSignal(controller.signal, () =>
      client.temporal.workflow.getHandle(workflowId).result(),
    );
    return { status: 'COMPLETED', result: await readable(result) };
  } catch (err) {
    if (controller.signal.aborted) return undefined;
    return outcomeOf(err);
  } finally {
    clearTimeout(timer);
  }
}

export interface SagaStatusView {
  workflowId: string;
  workflowType: string;
  /** Temporal's status: RUNNING, COMPLETED, FAILED, … */
  status: string;
  taskQueue: string;
  startedAt: string;
  closedAt: string | null;
  /** The saga's own state from its sagaStatus query (null when no worker answered in time). */
  saga: SagaState | null;
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

/** GET /status/{id}: describe, the saga's query, and the outcome once closed. */
export async function sagaStatusView(temporal: Client, workflowId: string, closed?: ClosedSagaViews): Promise<SagaStatusView> {
  const handle = temporal.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const known = closed?.get(workflowId, d.runId);
  if (known) return known;
  const saga = await temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(sagaStatusQuery)).catch(() => null);
  let outcome: Outcome | null = null;
  if (d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW') {
    outcome = await handle.result().then(
      (result: unknown): Outcome => ({ status: 'COMPLETED', result }),
      (err: unknown) => outcomeOf(err),
    );
  }
  const view: SagaStatusView = {
    workflowId,
    workflowType: d.type,
    status: d.status.name,
    taskQueue: d.taskQueue,
    startedAt: d.startTime.toISOString(),
    closedAt: d.closeTime?.toISOString() ?? null,
    saga,
    outcome,
  };
  if (outcome && saga) closed?.set(workflowId, d.runId, view);
  return view;
}
