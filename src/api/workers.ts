import type { Client } from '@temporalio/client';
import { temporal as proto } from '@temporalio/proto';

/**
 * Workers that poll a task queue now. Temporal lists a poller for minutes after its worker
 * stopped; a worker's shutdown heartbeat (ListWorkers, Temporal 1.28+) says it is gone at
 * once, so a poller whose identity shut down after its last poll is not counted.
 */
export interface QueueWorkers {
  workflowPollers: string[];
  activityPollers: string[];
  /** Why the shutdown heartbeats could not be read (an older server): then only poller age counts. */
  note?: string;
}

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  t ? Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6) : 0;

const { TaskQueueKind, TaskQueueType, WorkerStatus } = proto.api.enums.v1;

async function pollers(client: Client, taskQueue: string, type: proto.api.enums.v1.TaskQueueType) {
  const q = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: type,
  });
  return (q.pollers ?? []).map((p) => ({ identity: p.identity ?? '', lastAccess: ms(p.lastAccessTime) }));
}

/** identity → time of its latest shutdown heartbeat on this task queue. */
async function shutdowns(client: Client, taskQueue: string): Promise<Map<string, number>> {
  const gone = new Map<string, number>();
  const res = await client.workflowService.listWorkers({
    namespace: client.options.namespace,
    pageSize: 100,
    query: `TaskQueue = "${taskQueue.replace(/"/g, '')}"`,
  });
  for (const w of res.workersInfo ?? []) {
    const hb = w.workerHeartbeat;
    if (!hb?.workerIdentity) continue;
    if (hb.status !== WorkerStatus.WORKER_STATUS_SHUTTING_DOWN && hb.status !== WorkerStatus.WORKER_STATUS_SHUTDOWN) continue;
    gone.set(hb.workerIdentity, Math.max(gone.get(hb.workerIdentity) ?? 0, ms(hb.heartbeatTime)));
  }
  return gone;
}

export async function queueWorkers(client: Client, taskQueue: string, staleSeconds: number): Promise<QueueWorkers> {
  const [wf, act] = await Promise.all([
    pollers(client, taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    pollers(client, taskQueue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  let gone = new Map<string, number>();
  let note: string | undefined;
  try {
    gone = await shutdowns(client, taskQueue);
  } catch {
    note = 'this Temporal server does not report worker heartbeats; a stopped worker counts until its poller expires';
  }
  const cutoff = Date.now() - staleSeconds * 1000;
  const live = (list: Array<{ identity: string; lastAccess: number }>) =>
    list.filter((p) => p.lastAccess >= cutoff && !((gone.get(p.identity) ?? 0) >= p.lastAccess)).map((p) => p.identity);
  return { workflowPollers: live(wf), activityPollers: live(act), ...(note ? { note } : {}) };
}
