import type { Pool } from 'pg';
import {
  type Client,
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import { DomainError } from '../domain/errors';
import {
  parseTransaction,
  resourcesOf,
  transactionWorkflowId,
  type TransactionRequest,
  type TransactionResult,
} from '../domain/operations';
import { requestHash } from '../domain/tx-hash';
import { listInDoubt, resolveInDoubt, type InDoubt, type Resolved } from '../db/recovery';
import { executeTransaction as executeTransactionWorkflow, recoverInDoubt, transactionStatusQuery } from '../workflows';

/**
 * The transaction core's client: checks a request completely (before anything is
 * started or written), runs it as one workflow per transaction id, and reads its outcome.
 */

export interface TransactionTarget {
  temporal: Client;
  taskQueue: string;
}

/** Starts the transaction (or joins the identical one already started) and waits for its result. */
export async function executeTransaction(t: TransactionTarget, request: TransactionRequest): Promise<TransactionResult> {
  const { workflowId } = await startTransaction(t, request);
  try {
    return await t.temporal.workflow.getHandle<typeof executeTransactionWorkflow>(workflowId).result();
  } catch (err) {
    throw asTransactionError(err);
  }
}

export async function startTransaction(
  t: TransactionTarget,
  request: TransactionRequest,
): Promise<{ workflowId: string; started: boolean }> {
  const input = parseTransaction(request);
  const workflowId = transactionWorkflowId(input.id);
  const resources = resourcesOf(input.operations);
  try {
    await t.temporal.workflow.start(executeTransactionWorkflow, {
      taskQueue: t.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      memo: { requestHash: requestHash(input) },
      staticSummary: `transaction ${input.id}: ${input.operations.length} operation(s), mode ${input.mode}, on ${resources.join(' and ')}`,
    });
    return { workflowId, started: true };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // Join the running workflow only when it is known to run this very request.
    const first = await firstRequestHash(t.temporal, workflowId);
    if (first === undefined) {
      throw new DomainError(
        'IdempotencyConflict',
        `transaction ${input.id} is already taken by workflow ${workflowId}, whose request cannot be compared with this one; use another transaction id, or see txmgr tx show ${input.id}`,
        { id: input.id },
      );
    }
    if (first !== requestHash(input)) {
      throw new DomainError(
        'IdempotencyConflict',
        `transaction ${input.id} was already started with different operations or mode (workflow ${workflowId}); a transaction id may be reused only for the identical request`,
        { id: input.id },
      );
    }
    return { workflowId, started: false };
  }
}

/** The request hash of the workflow that holds the id: its first input's, parsed as this client would. */
async function firstRequestHash(temporal: Client, workflowId: string): Promise<string | undefined> {
  const input = await firstInput(temporal, workflowId);
  return input ? requestHash(input) : undefined;
}

async function firstInput(temporal: Client, workflowId: string) {
  const { history } = await temporal.workflowService.getWorkflowExecutionHistory({
    namespace: temporal.options.namespace,
    execution: { workflowId },
    maximumPageSize: 1,
  });
  const payloads = history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  if (!payloads?.length) return undefined;
  try {
    return parseTransaction(await decodeFromPayloadsAtIndex<unknown>(temporal.options.loadedDataConverter, 0, payloads));
  } catch {
    return undefined;
  }
}

/** A failed transaction as the error the caller acts on, its state attached (`transaction`). */
export class TransactionFailedError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly transaction?: TransactionResult,
  ) {
    super(message);
    this.name = type;
  }
}

function asTransactionError(err: unknown): unknown {
  if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
    const state = err.cause.details?.[0] as TransactionResult | undefined;
    return new TransactionFailedError(err.cause.type ?? 'TransactionFailed', err.cause.message, state);
  }
  return err;
}

/** The transaction's state: its result when finished, its live state while running; undefined when unknown. */
export async function getTransaction(t: TransactionTarget, id: string): Promise<TransactionResult | undefined> {
  const handle = t.temporal.workflow.getHandle<typeof executeTransactionWorkflow>(transactionWorkflowId(id.trim()));
  let status: string;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  if (status === 'RUNNING') return handle.query(transactionStatusQuery);
  try {
    return await handle.result();
  } catch (err) {
    const e = asTransactionError(err);
    if (e instanceof TransactionFailedError && e.transaction) return e.transaction;
    throw e;
  }
}

export const RECOVERY_SCHEDULE_ID = 'txmgr-in-doubt-recovery';

/** The Temporal Schedule that runs the in-doubt check every `everySeconds`; created once, kept if it exists. */
export async function ensureRecoverySchedule(temporal: Client, taskQueue: string, everySeconds = 60): Promise<void> {
  try {
    await temporal.schedule.create({
      scheduleId: RECOVERY_SCHEDULE_ID,
      spec: { intervals: [{ every: `${everySeconds} seconds` }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      action: { type: 'startWorkflow', workflowType: recoverInDoubt, taskQueue, args: [] },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}

export interface RecoveryTarget {
  ledger: Pool;
  custody?: Pool;
  temporal?: Client;
}

const runningCheck = (temporal?: Client) =>
  temporal
    ? async (workflowId: string) => {
        try {
          return (await temporal.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
        } catch (err) {
          return err instanceof WorkflowNotFoundError ? false : undefined;
        }
      }
    : undefined;

/** `txmgr recovery status`: every prepared transaction of txmgr with its decision and what recovery would do. */
export function recoveryStatus(r: RecoveryTarget): Promise<InDoubt[]> {
  return listInDoubt({ ledger: r.ledger, custody: r.custody }, { isWorkflowRunning: runningCheck(r.temporal) });
}

/** `txmgr recovery run`: commits or rolls back each from its decision; orphans and expired ones roll back. */
export function recoveryRun(r: RecoveryTarget): Promise<Resolved[]> {
  return resolveInDoubt({ ledger: r.ledger, custody: r.custody }, { isWorkflowRunning: runningCheck(r.temporal) });
}
