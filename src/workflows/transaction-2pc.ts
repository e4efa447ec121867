import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  patched,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  COMMIT_TIMEOUT_SECONDS,
  PREPARE_TIMEOUT_SECONDS,
  resourcesOf,
  type Resource,
  type TransactionInput,
  type TransactionResult,
} from '../domain/operations';
import { COMPENSATION_OPTIONS, STEP_OPTIONS } from './retry-policies';

// The SDK's deterministic clock (the current workflow task's time).
// eslint-disable-next-line no-restricted-properties
const workflowNow = (): number => Date.now();

/**
 * Task queue priority (1 runs first, the default is 3): a prepared participant keeps its row locks
 * until its decision is carried out, and everything else touching those rows waits for it, so the
 * activities that end that wait (the decision, the commit or rollback, a later participant's
 * prepare) go before other work in a backlog.
 */
const RELEASES_LOCKS = { priorityKey: 1 };
const HOLDS_LOCKS = { priorityKey: 2 };

// Recording a decision must happen: retried until it does (recovery waits for it meanwhile).
const decide = proxyActivities<Activities>({
  ...COMPENSATION_OPTIONS,
  startToCloseTimeout: '10 seconds',
  priority: RELEASES_LOCKS,
});

/**
 * Two-phase commit across the resource databases. Temporal's history is the coordinator's
 * log; the decision is also written to tx_transactions (first one wins, shared with
 * recovery) before any participant is told. Prepare: 30 s an attempt, retried within the
 * overall timeout; commit or roll back: 60 s an attempt, retried until done (recovery,
 * scheduled in the worker, may finish it first).
 */
export async function runTwoPhase(input: TransactionInput, state: TransactionResult, timeoutMs: number): Promise<void> {
  const deadlineAt = workflowInfo().startTime.getTime() + timeoutMs;
  const begin = proxyActivities<Activities>({
    ...STEP_OPTIONS,
    scheduleToCloseTimeout: Math.max(1000, deadlineAt - workflowNow()),
  });
  const begun = await begin.beginTwoPhase({ input, deadlineAt: new Date(deadlineAt).toISOString() });
  const gidOf = (r: string) => `txmgr:${begun.gidKey}:${r}`;

  // Each attempt is bounded; a database that cannot be reached is retried until the transaction's
  // own deadline (faults are not outcomes), after which it rolls back.
  const left = deadlineAt - workflowNow();
  const prepare = proxyActivities<Activities>({
    ...STEP_OPTIONS,
    // Each attempt has the prepare timeout; attempts go on within the transaction's whole window, so an
    // attempt lost with its worker (its PREPARE may have run) is retried and finds the gid prepared.
    startToCloseTimeout: `${PREPARE_TIMEOUT_SECONDS} seconds`,
    scheduleToCloseTimeout: Math.max(1, left),
    priority: HOLDS_LOCKS,
  });
  const resources = resourcesOf(input.operations);
  const participant = (resource: Resource) => ({
    txId: input.id,
    gid: gidOf(resource),
    resource,
    steps: input.operations.flatMap((operation, position) => (operation.resource === resource ? [{ position, operation }] : [])),
  });
  const prepareOne = (resource: Resource) => prepare.prepareParticipant(participant(resource));
  let prepared: Array<PromiseSettledResult<Awaited<ReturnType<typeof prepareOne>>>>;
  if (patched('2pc-prepare-in-resource-order')) {
    // One participant after the other, always in the same resource order, stopping at the first
    // refusal. In parallel, two transactions could each prepare on one database (keeping its row
    // locks: a prepared transaction keeps them until the decision) and wait for the other's rows
    // on the second database: a deadlock no database sees, until both deadlines. In order, a
    // transaction holds nothing on a later database while it waits on an earlier one.
    // Within the deadline: a schedule-to-close counts from each prepare's own start, so a later
    // prepare gets only the time left, and none starts once the deadline has passed.
    const withinDeadline = patched('2pc-prepare-within-deadline');
    prepared = [];
    for (const resource of resources) {
      const timeLeft = deadlineAt - workflowNow();
      if (withinDeadline && timeLeft <= 0) break;
      const attempt = withinDeadline
        ? proxyActivities<Activities>({
            ...STEP_OPTIONS,
            startToCloseTimeout: `${PREPARE_TIMEOUT_SECONDS} seconds`,
            scheduleToCloseTimeout: timeLeft,
            priority: HOLDS_LOCKS,
          }).prepareParticipant(participant(resource))
        : prepareOne(resource);
      const outcome = await attempt.then(
        (value) => ({ status: 'fulfilled' as const, value }),
        (reason: unknown) => ({ status: 'rejected' as const, reason }),
      );
      prepared.push(outcome);
      if (outcome.status === 'rejected') break;
    }
  } else {
    prepared = await Promise.allSettled(resources.map(prepareOne));
  }
  const firstFailure = prepared.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  // A cancel before the decision rolls back. From here on nothing may be left half done (a
  // participant prepared and no decision), whatever cancel comes: decide and finish regardless.
  const cancelled = CancellationScope.current().consideredCancelled;
  const wanted = firstFailure || cancelled || workflowNow() > deadlineAt ? 'rollback' : 'commit';
  const { decision, finished } = await CancellationScope.nonCancellable(async () => {
    const decision = await decide.decideTwoPhase({ txId: input.id, decision: wanted });
    state.decision = decision;

    // The decision is recorded: finishing it must happen, so a participant that cannot be reached is
    // retried until it can (recovery, on its schedule, may finish it first; both are idempotent).
    const finish = proxyActivities<Activities>({
      ...COMPENSATION_OPTIONS,
      startToCloseTimeout: `${COMMIT_TIMEOUT_SECONDS} seconds`,
      priority: RELEASES_LOCKS,
    });
    try {
      const finished: Array<{ outcomes?: TransactionResult['operations'] } | string> = await Promise.all(
        resources.map((resource) => finish.finishParticipant({ txId: input.id, gid: gidOf(resource), resource, decision })),
      );
      return { decision, finished };
    } catch (err) {
      state.status = 'FAILED';
      throw ApplicationFailure.create({
        type: 'InDoubt',
        message: `decision ${decision} recorded, but a participant refused to finish it: txmgr recovery run (and the worker's scheduled check) completes it`,
        nonRetryable: true,
        cause: err instanceof Error ? err : undefined,
      });
    }
  });
  for (const p of prepared) {
    if (p.status !== 'fulfilled') continue;
    for (const o of p.value.outcomes) {
      state.operations[o.position] =
        decision === 'commit' ? o : { ...o, status: 'not applied', detail: `rolled back: ${o.detail ?? ''}` };
    }
  }
  if (decision === 'commit') {
    // A participant whose prepare answer was lost (its retry found the gid prepared) is told by its journal.
    for (const f of finished) {
      if (typeof f === 'string') continue; // a history from before commits answered their outcomes
      for (const o of f.outcomes ?? []) if (state.operations[o.position]?.status !== 'applied') state.operations[o.position] = o;
    }
    state.status = 'COMMITTED';
    return;
  }
  state.status = 'ROLLED_BACK';
  if (cancelled) {
    throw ApplicationFailure.create({
      type: 'Cancelled',
      message: `transaction ${input.id} was cancelled before its decision; every participant rolled back`,
      nonRetryable: true,
    });
  }
  // A fault retried until the deadline stopped it (a database unreachable, a lock held) is not the answer.
  const faultAtDeadline =
    firstFailure?.reason instanceof ActivityFailure &&
    firstFailure.reason.cause instanceof ApplicationFailure &&
    !firstFailure.reason.cause.nonRetryable;
  if (firstFailure && !faultAtDeadline) throw firstFailure.reason;
  if (wanted === 'commit') {
    throw ApplicationFailure.create({
      type: 'RolledBackByRecovery',
      message: `transaction ${input.id}: in-doubt recovery recorded a rollback before this workflow decided (it found the transaction past its deadline or its workflow gone); every participant rolled back`,
      nonRetryable: true,
    });
  }
  throw ApplicationFailure.create({
    type: 'DeadlineExceeded',
    message: `transaction ${input.id} did not prepare within its timeout of ${timeoutMs / 1000} s; every participant rolled back`,
    nonRetryable: true,
  });
}
