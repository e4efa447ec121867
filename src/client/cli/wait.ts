import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';
import { sagaStatusQuery, type SagaState } from '../../workflows/saga';
import { failed, note } from './printer';

export interface SagaProbe {
  /** Temporal's status name: RUNNING, COMPLETED, FAILED, … */
  status: string;
  taskQueue: string;
  /** The saga's own state, when its query answered. */
  state?: SagaState;
  /** The workflow task keeps failing: its attempt and last failure. */
  failingTask?: { attempt: number; message: string };
  /** Nobody polls the saga's task queue. */
  noWorker?: boolean;
}

const QUERY_DEADLINE_MS = 3_000;

async function lastWorkflowTaskFailure(handle: WorkflowHandle): Promise<string> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const attrs = events[i]?.workflowTaskFailedEventAttributes;
    if (attrs) return attrs.failure?.message ?? `workflow task failed (${String(attrs.cause)})`;
  }
  return 'no failure recorded in the history yet';
}

/** Looks at a saga from outside: describe, its task queue's pollers, then its query. Never hangs. */
export async function probeSaga(client: Client, workflowId: string): Promise<SagaProbe> {
  const handle = client.workflow.getHandle(workflowId);
  const description = await handle.describe();
  const probe: SagaProbe = { status: description.status.name, taskQueue: description.taskQueue };
  const pending = description.raw.pendingWorkflowTask;
  if (probe.status === 'RUNNING' && pending && (pending.attempt ?? 0) > 1) {
    probe.failingTask = { attempt: pending.attempt ?? 0, message: await lastWorkflowTaskFailure(handle) };
    return probe;
  }
  if (!(await hasPollers(client, description.taskQueue))) {
    probe.noWorker = true;
    return probe;
  }
  // A query needs a worker to answer; a deadline keeps a busy one from holding us.
  probe.state = await client
    .withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(sagaStatusQuery))
    .catch(() => undefined);
  return probe;
}

async function hasPollers(client: Client, taskQueue: string): Promise<boolean> {
  const queue = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: proto.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  return (queue.pollers ?? []).length > 0;
}

/** Before a command that can only wait for a worker (account open, config apply): refuse to hang. */
export async function requireWorker(client: Client, taskQueue: string): Promise<void> {
  if (!(await hasPollers(client, taskQueue))) {
    const [what, hint] = noWorkerHint(taskQueue).split(' — ');
    throw failed('NoWorker', what ?? '', hint);
  }
}

export const noWorkerHint = (taskQueue: string): string =>
  `no worker polls task queue ${taskQueue} — start one with: TEMPORAL_TASK_QUEUE=${taskQueue} npm run worker`;

export interface WaitOptions {
  workflowId: string;
  /** Stop waiting (exit 1, the saga goes on) after this many seconds. */
  timeoutSeconds?: number;
  /** The command that follows the saga, e.g. `txmgr deposit status REF`. */
  followWith: string;
  /** The first line shown, e.g. "saga deposit-X started". */
  intro: string;
  /** Words for what the saga waits for right now. */
  waitingFor: (probe: SagaProbe) => Promise<string | undefined>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Waits for a saga's result while telling the person what it waits for (on stderr).
 * A failing workflow task ends the wait with its failure; Ctrl-C and --timeout end it
 * saying that the saga goes on.
 */
export async function waitForSaga<T>(client: Client, o: WaitOptions): Promise<T> {
  const handle = client.workflow.getHandle(o.workflowId);
  note(`${o.intro} — follow it with: ${o.followWith}`);
  const onSigint = () => {
    note(`interrupted — the saga ${o.workflowId} goes on in Temporal; follow it with: ${o.followWith}`);
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  const outcome = handle.result().then(
    (value) => ({ ok: true as const, value: value as T }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  const deadline = o.timeoutSeconds === undefined ? Infinity : Date.now() + o.timeoutSeconds * 1000;
  let shown: string | undefined;
  let warnedNoWorker = false;
  try {
    for (let tick = 0; ; tick++) {
      const settled = await Promise.race([outcome, sleep(tick === 0 ? 300 : 1_000).then(() => undefined)]);
      if (settled) {
        if (settled.ok) return settled.value;
        throw settled.error;
      }
      const probe = await probeSaga(client, o.workflowId).catch(() => undefined);
      if (probe?.failingTask) {
        throw failed(
          'WorkflowTaskFailing',
          `saga ${o.workflowId} cannot run: its workflow task failed ${probe.failingTask.attempt} times, last with: ${probe.failingTask.message}`,
          `fix the worker (its log shows the same error); the saga goes on once it can — follow it with: ${o.followWith}`,
        );
      }
      if (probe?.noWorker && !warnedNoWorker) {
        warnedNoWorker = true;
        note(noWorkerHint(probe.taskQueue));
      }
      const now = probe ? await o.waitingFor(probe).catch(() => undefined) : undefined;
      if (now && now !== shown) {
        shown = now;
        note(now);
      }
      if (Date.now() > deadline) {
        throw failed(
          'Timeout',
          `saga ${o.workflowId} still running after ${o.timeoutSeconds}s${shown ? `, ${shown.split(' — ')[0]}` : ''}`,
          `it goes on; follow it with: ${o.followWith}`,
        );
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
}
