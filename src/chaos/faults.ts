import { Client as PgClient } from 'pg';
import { depositWorkflowId } from '../client';
import { outcomeOf, retrying, type Driver } from './driver';
import type { PlannedFault, PlannedScenario } from './plan';
import { runDeposit } from './scenarios';
import { recordTransaction, runTransaction } from './scenarios-more';
import type { Accounts } from './setup';
import { gidFor, gidKeyFor } from '../domain/tx-ids';
import { transactionWorkflowId } from '../domain/operations';
import { startTransaction } from '../client/transactions';

/** One fault as it happened: planned and actual time, and what it did. */
export interface InjectedFault {
  kind: PlannedFault['kind'];
  plannedMs: number;
  startedMs: number;
  durationMs: number;
  detail: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The chain simulator's URL, which chain faults need. */
function chainUrl(d: Driver): string {
  if (!d.chainUrl) throw new Error('no chain simulator is configured');
  return d.chainUrl;
}

type Reserved = { lockVictim?: PlannedScenario; coordinatorKill: PlannedScenario[] };

/**
 * Injects one fault into the running stack. Every fault is from the outside: signals to
 * processes, PostgreSQL and Temporal stopped and started, sessions terminated, the chain
 * simulator's fault API, a row lock held from another connection.
 */
export async function inject(d: Driver, f: PlannedFault, acc: Accounts, reserved: Reserved): Promise<string> {
  // Process-level faults need the run's own stack; the others act from inside, as a client or operator would.
  const stack = () => d.ownStack();
  const p = f.params;
  switch (f.kind) {
    case 'worker-sigkill': {
      const w = Number(p.worker);
      await stack().signalWorker(w, 'SIGKILL');
      await sleep(Number(p.restartAfterMs));
      stack().startWorker(w);
      await stack().waitWorkerReady(w);
      return `worker ${w} killed, started again after ${p.restartAfterMs} ms`;
    }
    case 'worker-sigterm': {
      const w = Number(p.worker);
      const t0 = Date.now();
      const code = await stack().signalWorker(w, 'SIGTERM');
      const drained = Date.now() - t0;
      stack().startWorker(w);
      await stack().waitWorkerReady(w);
      if (code !== 0) d.violation(`worker ${w} did not drain on SIGTERM: it exited with code ${code}`);
      return `worker ${w} drained in ${(drained / 1000).toFixed(1)} s (exit ${code}), started again`;
    }
    case 'postgres-restart':
      await stack().restartPostgres(0);
      return 'PostgreSQL stopped (fast shutdown) and started again';
    case 'postgres-outage':
      await stack().restartPostgres(Number(p.seconds) * 1000);
      return `PostgreSQL down for ${p.seconds} s`;
    case 'temporal-restart':
      await stack().restartTemporal();
      return 'the dev server stopped and started again on its SQLite file';
    case 'terminate-backends':
      return terminateBackends(d, Number(p.rounds));
    case 'chain-fault': {
      const { fault, ...rest } = p;
      const body = { kind: fault, ...rest };
      await retrying('inject a chain fault', async () => {
        const res = await fetch(`${chainUrl(d)}/admin/faults`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`chain simulator answered ${res.status}`);
      });
      return `chain simulator: ${JSON.stringify(body)}`;
    }
    case 'coordinator-kill':
      return coordinatorKill(d, acc, reserved.coordinatorKill, Number(p.restartAfterMs));
    case 'activity-timeout':
      if (!reserved.lockVictim) return 'no lock-victim deposit in the plan';
      return outliveTimeout(d, acc, reserved.lockVictim, Number(p.holdMs));
  }
}

/**
 * pg_terminate_backend of the workers' sessions that are in a transaction or running a statement,
 * on the run's two databases only (a shared PostgreSQL's other databases are left alone).
 */
async function terminateBackends(d: Driver, rounds: number): Promise<string> {
  const databases = await retrying(
    'name the databases',
    () =>
      Promise.all(
        [d.ledger, d.custody].map(async (p) => (await p.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db),
      ),
    60_000,
  );
  let total = 0;
  for (let r = 0; r < rounds; r++) {
    for (let tries = 0; tries < 500; tries++) {
      const { rows } = await retrying(
        'terminate backends',
        () =>
          // Materialised first: the planner may otherwise call pg_terminate_backend before the filter.
          d.ledger.query<{ pid: number }>(
            `WITH victims AS MATERIALIZED (
             SELECT pid FROM pg_stat_activity
              WHERE application_name = 'txmgr-worker' AND state IN ('active', 'idle in transaction')
                AND datname = ANY($1) AND pid <> pg_backend_pid())
           SELECT pid FROM victims WHERE pg_terminate_backend(pid)`,
            [databases],
          ),
        60_000,
      );
      if (rows.length > 0) {
        total += rows.length;
        break;
      }
      await sleep(20);
    }
    await sleep(1_000);
  }
  return `${total} worker session(s) terminated mid-transaction in ${rounds} round(s)`;
}

/**
 * Starts reserved 2pc transactions one by one and watches pg_prepared_xacts (cluster-wide):
 * the moment both participants of one are prepared, its coordinator is between prepare and
 * commit — every worker is SIGKILLed then, and started again.
 */
async function coordinatorKill(d: Driver, acc: Accounts, scenarios: PlannedScenario[], restartAfterMs: number): Promise<string> {
  const stack = d.ownStack();
  let caught: string | undefined;
  const tried = new Set<number>();
  for (const s of scenarios) {
    // Once caught, the rest wait until the workers are back: a 2pc sharing accounts with the in-doubt one would only time out behind its locks.
    if (s.kind !== 'transaction' || caught) continue;
    tried.add(s.index);
    const request = recordTransaction(d, s, acc);
    const key = gidKeyFor(transactionWorkflowId(request.id));
    const gids = [gidFor(key, 'ledger'), gidFor(key, 'custody')];
    await retrying('start a 2pc', () => startTransaction({ temporal: d.temporal, taskQueue: d.taskQueue }, request));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const { rows } = await d.ledger
        .query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE gid = ANY($1)', [gids])
        .catch(() => ({ rows: [{ n: 0 }] }));
      if ((rows[0]?.n ?? 0) === 2) {
        await Promise.all(Array.from({ length: stack.workerCount() }, (_, w) => stack.signalWorker(w, 'SIGKILL')));
        caught = request.id;
        break;
      }
      // Decided with nothing prepared left: this one committed between two looks; try the next.
      const done = await d.ledger
        .query(
          `SELECT 1 FROM tx_transactions t WHERE t.id = $1 AND t.decision IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = ANY($2))`,
          [request.id, gids],
        )
        .catch(() => ({ rowCount: 0 }));
      if (done.rowCount) break;
      await sleep(5);
    }
    if (caught) {
      await sleep(restartAfterMs);
      for (let w = 0; w < stack.workerCount(); w++) stack.startWorker(w);
      await Promise.all(Array.from({ length: stack.workerCount() }, (_, w) => stack.waitWorkerReady(w)));
    }
  }
  // The reserved 2pcs the fault did not need run now as ordinary ones: the run starts every saga it planned.
  for (const s of scenarios) if (s.kind === 'transaction' && !tried.has(s.index)) await runTransaction(d, s, acc);
  return caught
    ? `every worker SIGKILLed while 2pc ${caught} was prepared on both databases and not yet committed; started again after ${restartAfterMs} ms`
    : `the window between prepare and commit was not caught in ${scenarios.length} tries (each 2pc still ran)`;
}

/**
 * A first attempt that commits after its timeout, while its retry runs: the account row of a
 * deposit's target is held locked from outside until the deposit's credit waits on it; then
 * every worker is frozen (SIGSTOP) and the lock let go, so the waiting statement gets its row
 * but the frozen worker cannot commit. Past the activity's 30 s start-to-close the workers go
 * on (SIGCONT): the first attempt commits late beside the retry the server scheduled, and the
 * deposit must credit once. (A lock alone no longer does it: a try waits for a lock at most
 * DB_LOCK_TIMEOUT_MS, then fails and is retried.)
 */
async function outliveTimeout(d: Driver, acc: Accounts, victim: PlannedScenario, holdMs: number): Promise<string> {
  const stack = d.ownStack();
  const locker = new PgClient({ connectionString: stack.databaseUrl, application_name: 'txmgr-chaos-lock' });
  locker.on('error', () => undefined);
  await locker.connect();
  let frozen = 0;
  let waited = false;
  try {
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [acc.lockVictim]);
    if (victim.kind === 'deposit') await runDeposit(d, victim, acc);
    const lockerPid = (await locker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    // Its tries wait a lock timeout each, with backoff (at most 30 s) between them: one is caught waiting.
    const until = Date.now() + WAIT_FOR_VICTIM_MS;
    while (!waited && Date.now() < until) {
      const { rows } = await locker.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))`,
        [lockerPid],
      );
      waited = (rows[0]?.n ?? 0) > 0;
      if (!waited) await sleep(50);
    }
    if (waited) frozen = stack.pauseWorkers();
    await locker.query('COMMIT');
    if (waited) await sleep(holdMs);
  } finally {
    if (frozen > 0 || waited) stack.resumeWorkers();
    await locker.end().catch(() => undefined);
  }
  const ref = `CHAOS-${d.names.tag}-${victim.index}`;
  // Not arranged is not injected: the runner reports it as a violation rather than a fault that happened.
  if (!waited)
    throw new Error(
      `deposit ${ref} never waited on its account's row lock in ${WAIT_FOR_VICTIM_MS / 1000} s, so no first attempt was frozen`,
    );
  const attempts = await retrying('read the deposit history', () => activityAttempts(d, depositWorkflowId(ref)), 120_000);
  return `deposit ${ref} waited on its account's row lock; ${frozen} workers frozen for ${(holdMs / 1000).toFixed(0)} s with the lock let go; activity attempts: ${attempts}`;
}

/** How long the late-first-attempt fault waits for its deposit to wait on the held row. */
const WAIT_FOR_VICTIM_MS = 120_000;

/** The attempt each finished activity of a workflow ended on ("creditDeposit 2"): above 1, a retry ran. */
async function activityAttempts(d: Driver, workflowId: string): Promise<string> {
  await outcomeOf(d, workflowId);
  const history = await d.temporal.workflow.getHandle(workflowId).fetchHistory();
  const types = new Map<string, string>();
  const out: string[] = [];
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) types.set(String(e.eventId), scheduled.activityType?.name ?? '?');
    const started = e.activityTaskStartedEventAttributes;
    if (started) out.push(`${types.get(String(started.scheduledEventId)) ?? '?'} ${started.attempt ?? 1}`);
  }
  return out.join(', ');
}
