import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import type { Pool } from 'pg';
import { DomainError } from '../domain/errors';
import { expectedSagaMs, RESTING_EXPIRY_GRACE_MS, RESTING_KINDS, SAGA_STATUSES } from '../domain/saga-kinds';
import { findDepositByReference } from '../db/queries/deposits';
import { findOrderOfWorkflow } from '../db/queries/orders';
import { findDesignedWait } from '../db/queries/saga-waits';
import { SAGA_STATUS, SAGA_TYPE } from '../temporal/search-attributes';
import { approveDepositSignal, rejectDepositSignal, retryCompensationSignal, sagaStatusQuery } from '../workflows';
import type { SagaState } from '../workflows/saga';

/**
 * Operator tooling over Temporal: find sagas, read one, ask a parked one to retry. Every
 * failure a person can meet is worded here (a finished saga, no worker), never the SDK's.
 */

/** Nobody polls the task queue, so a query (or any work) cannot be answered. */
export class NoWorkerError extends Error {
  constructor(readonly taskQueue: string) {
    super(`no worker polls task queue ${taskQueue}`);
    this.name = 'NoWorker';
  }
}

const QUERY_DEADLINE_MS = 5_000;

export async function hasPollers(temporal: Client, taskQueue: string): Promise<boolean> {
  const queue = await temporal.workflowService.describeTaskQueue({
    namespace: temporal.options.namespace,
    taskQueue: { name: taskQueue, kind: proto.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (queue.pollers ?? []).length > 0;
}

async function describeSaga(temporal: Client, workflowId: string) {
  try {
    return await temporal.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new DomainError('NotFound', `no saga with workflow id ${workflowId}`, { field: 'workflowId' });
    }
    throw err;
  }
}

/** A saga's own state (its sagaStatus query); NoWorkerError when no worker could answer. */
export async function querySagaStatus(temporal: Client, workflowId: string): Promise<SagaState> {
  const description = await describeSaga(temporal, workflowId);
  if (!(await hasPollers(temporal, description.taskQueue))) throw new NoWorkerError(description.taskQueue);
  try {
    return await temporal.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
      temporal.workflow.getHandle(workflowId).query(sagaStatusQuery),
    );
  } catch (err) {
    // The worker may have gone between the check and the query.
    if (!(await hasPollers(temporal, description.taskQueue))) throw new NoWorkerError(description.taskQueue);
    throw err;
  }
}

/**
 * Sends a review decision to a deposit's saga. A finished saga (or none) is answered
 * from the deposit row: "deposit BANK-2 already CREDITED", not WorkflowNotFoundError.
 */
export async function sendDepositDecision(
  temporal: Client,
  pool: Pool,
  workflowId: string,
  bankReference: string,
  verdict: 'approve' | 'reject',
  decision: { reviewer: string; reason?: string },
): Promise<void> {
  const signal = verdict === 'approve' ? approveDepositSignal : rejectDepositSignal;
  try {
    await temporal.workflow.getHandle(workflowId).signal(signal, decision);
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    const deposit = await findDepositByReference(pool, bankReference.trim());
    if (deposit) {
      throw new DomainError(
        'InvalidState',
        `deposit ${deposit.bank_reference} already ${deposit.status}${deposit.reason ? ` (${deposit.reason})` : ''}; nothing left to decide`,
        { field: 'bankReference', status: deposit.status },
      );
    }
    const ended = await temporal.workflow
      .getHandle(workflowId)
      .describe()
      .then((d) => d.status.name)
      .catch(() => undefined);
    throw ended
      ? new DomainError('InvalidState', `the saga of deposit ${bankReference} already ended ${ended}, before it was recorded`, {
          field: 'bankReference',
        })
      : new DomainError('NotFound', `no deposit with bank reference ${bankReference}`, { field: 'bankReference' });
  }
}

/** Asks a saga parked in COMPENSATION_FAILED to run its compensations again. */
export async function retrySagaCompensation(temporal: Client, workflowId: string): Promise<void> {
  const description = await describeSaga(temporal, workflowId);
  // The search attribute answers without a worker; the query would need one.
  const sagaStatus = description.typedSearchAttributes.get(SAGA_STATUS);
  if (description.status.name !== 'RUNNING') {
    throw new DomainError(
      'InvalidState',
      `saga ${workflowId} already ${sagaStatus && sagaStatus !== 'RUNNING' ? sagaStatus : description.status.name}; nothing to retry`,
      { field: 'workflowId' },
    );
  }
  if (sagaStatus !== 'COMPENSATION_FAILED') {
    throw new DomainError(
      'InvalidState',
      `saga ${workflowId} is ${sagaStatus ?? 'not a saga'}, not COMPENSATION_FAILED; nothing to retry`,
      { field: 'workflowId' },
    );
  }
  await temporal.workflow.getHandle(workflowId).signal(retryCompensationSignal);
}

export interface SagaListing {
  /** What a long-running saga waits for by design (a resting order, an active campaign). */
  waitingFor?: string;
  workflowId: string;
  kind: string;
  /** The saga's own status (its search attribute), e.g. COMPENSATION_FAILED. */
  status: string;
  /** Temporal's: RUNNING, COMPLETED, FAILED, TERMINATED, … */
  executionStatus: string;
  taskQueue: string;
  startTime: string;
  closeTime?: string;
  ageMs: number;
  /** Why a person should look at it; absent when nothing is wrong. */
  attention?: string;
}

export interface ListSagasOptions {
  kind?: string;
  status?: string;
  taskQueue?: string;
  /** Only sagas started at least this long ago. */
  olderThanMs?: number;
  /** Only those needing attention. */
  attention?: boolean;
  /** Overrides every kind's expected running time (drills and tests). */
  expectedMs?: number;
  limit?: number;
  now?: Date;
  /**
   * The application database: a saga running past its kind's time because it waits by design
   * (a resting order, a scheduled or active campaign) is then listed with that wait, not as
   * needing attention; a trade whose GTD order is overdue, or whose order closed while it runs, is.
   */
  pool?: Pool;
}

const KEYWORD = /^[A-Za-z0-9_.:-]{1,100}$/;

function keyword(value: string, field: string): string {
  if (!KEYWORD.test(value)) {
    throw new DomainError('ValidationError', `${field} must be letters, digits, "_", ".", ":" or "-", got "${value}"`, { field });
  }
  return value;
}

/** The visibility query for a listing; every value is checked, so nothing reaches it unquoted. */
export function sagaListQuery(o: ListSagasOptions, now: Date): string {
  const where: string[] = [];
  if (o.kind) where.push(`${SAGA_TYPE.name} = '${keyword(o.kind, 'kind')}'`);
  else where.push(`${SAGA_TYPE.name} IS NOT NULL`);
  if (o.status) {
    const status = o.status.toUpperCase();
    if (!(SAGA_STATUSES as readonly string[]).includes(status)) {
      throw new DomainError('ValidationError', `status must be one of ${SAGA_STATUSES.join(', ')}, got "${o.status}"`, {
        field: 'status',
      });
    }
    where.push(`${SAGA_STATUS.name} = '${status}'`);
  }
  if (o.taskQueue) where.push(`TaskQueue = '${keyword(o.taskQueue, 'taskQueue')}'`);
  if (o.olderThanMs !== undefined) where.push(`StartTime < '${new Date(now.getTime() - o.olderThanMs).toISOString()}'`);
  if (o.attention) where.push(`(${SAGA_STATUS.name} = 'COMPENSATION_FAILED' OR ExecutionStatus = 'Running')`);
  return where.join(' AND ');
}

/** The order a resting-kind saga placed, as far as its listing cares. */
interface SagaOrder {
  status: string;
  expiresAt: Date | null;
}

function attentionOf(l: Omit<SagaListing, 'attention'>, expectedMs: number, now: Date, order?: SagaOrder): string | undefined {
  if (l.status === 'COMPENSATION_FAILED') return 'a compensation keeps failing: fix its cause, then retry-compensation';
  if (l.executionStatus === 'RUNNING' && order?.status === 'open') {
    // Resting on the book: it runs until filled, cancelled or expired, however long that is.
    if (order.expiresAt && now.getTime() - order.expiresAt.getTime() > RESTING_EXPIRY_GRACE_MS) {
      return `its GTD order expired at ${order.expiresAt.toISOString()} but is still open`;
    }
    return undefined;
  }
  if (l.executionStatus === 'RUNNING' && order && l.ageMs > expectedMs) {
    return `its order is ${order.status} but the saga still runs (${formatDuration(l.ageMs)})`;
  }
  if (l.executionStatus === 'RUNNING' && l.ageMs > expectedMs) {
    return `running ${formatDuration(l.ageMs)}, longer than a ${l.kind} is expected to (${formatDuration(expectedMs)})`;
  }
  return undefined;
}

/** Sagas by kind, status, task queue and age, newest first; those needing attention say why. */
export async function listSagas(temporal: Client, o: ListSagasOptions = {}): Promise<SagaListing[]> {
  const now = o.now ?? new Date();
  const limit = o.limit ?? 50;
  const out: SagaListing[] = [];
  for await (const info of temporal.workflow.list({ query: sagaListQuery(o, now), pageSize: Math.min(limit, 100) })) {
    const kind = info.typedSearchAttributes.get(SAGA_TYPE) ?? info.type;
    const executionStatus = info.status.name;
    const listing: Omit<SagaListing, 'attention'> = {
      workflowId: info.workflowId,
      kind,
      status: info.typedSearchAttributes.get(SAGA_STATUS) ?? executionStatus,
      executionStatus,
      taskQueue: info.taskQueue,
      startTime: info.startTime.toISOString(),
      closeTime: info.closeTime?.toISOString(),
      ageMs: (info.closeTime ?? now).getTime() - info.startTime.getTime(),
    };
    const order =
      o.pool && executionStatus === 'RUNNING' && RESTING_KINDS.includes(kind)
        ? await findOrderOfWorkflow(o.pool, info.workflowId)
        : undefined;
    let attention = attentionOf(
      listing,
      o.expectedMs ?? expectedSagaMs(kind),
      now,
      order && { status: order.status, expiresAt: order.expires_at },
    );
    // A wait by design is shown as such: a resting order always, another saga's only when its age flagged it.
    let waitingFor: string | undefined;
    const designed = order ? order.status === 'open' && !attention : attention !== undefined;
    if (o.pool && designed && executionStatus === 'RUNNING' && listing.status !== 'COMPENSATION_FAILED') {
      waitingFor = await findDesignedWait(o.pool, listing.workflowId);
      if (waitingFor) attention = undefined;
    }
    if (o.attention && !attention) continue;
    out.push({ ...listing, ...(waitingFor ? { waitingFor } : {}), ...(attention ? { attention } : {}) });
    if (out.length >= limit) break;
  }
  return out;
}

/** 90 s → "1 min 30 s"; 3 h → "3 h". */
export function formatDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3_600), 'h'],
    [Math.floor((s % 3_600) / 60), 'min'],
    [s % 60, 's'],
  ];
  const shown = parts.filter(([n]) => n > 0).slice(0, 2);
  return shown.length === 0 ? '0 s' : shown.map(([n, unit]) => `${n} ${unit}`).join(' ');
}
