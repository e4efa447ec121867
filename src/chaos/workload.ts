import os from 'node:os';
import { outcomeOf, type Driver, type SagaRecord } from './driver';
import { inject, type InjectedFault } from './faults';
import type { ChaosPlan, PlannedScenario } from './plan';
import type { ChaosResult, SkippedFault } from './report';
import type { Rng } from './rng';
import { cancelResting, MARKETS, runDeposit, runTrade, runWithdrawal } from './scenarios';
import { configOutcome, runCampaign, runConfig, runTransaction } from './scenarios-more';
import { setUp, type Accounts } from './setup';
import { verify } from './verify';

/**
 * The run itself, whatever it runs on: accounts opened and funded, the planned scenarios
 * submitted at their times while the planned faults are injected, the drain until every saga
 * is terminal, then the checks. `txmgr chaos` runs it on its own stack, the API's test routes
 * on the stack the API serves.
 */

/** What a run is doing, readable while it runs (the API's test routes report it). */
export interface RunProgress {
  phase: 'setup' | 'load' | 'drain' | 'verify' | 'done';
  /** The sagas started so far; `observed` is set on each once the drain has seen it end. */
  records: readonly SagaRecord[];
  faults: readonly InjectedFault[];
  sagasPlanned: number;
  faultsPlanned: number;
  /** Set from outside: nothing new starts, and the drain stops waiting (the server is closing). */
  stopRequested: boolean;
}

export const newProgress = (): RunProgress => ({
  phase: 'setup',
  records: [],
  faults: [],
  sagasPlanned: 0,
  faultsPlanned: 0,
  stopRequested: false,
});

export interface WorkloadOptions {
  say: (line: string) => void;
  /** When the run started (its set-up time counts from here). */
  t0: number;
  /** How long the drain may take before the sagas still running are reported as never finishing. */
  drainTimeoutMs?: number;
  /** Planned faults this target cannot inject, with why; listed in the report. */
  skipped?: SkippedFault[];
  progress?: RunProgress;
}

/** Concurrent clients for the scenarios that do not run in a lane. */
const RUNNERS = 12;
/** How long past the planned window scenarios and faults may still start. */
const LOAD_GRACE_MS = 300_000;
/** Default drain limit: sagas still running after it are reported as never finishing. */
const DRAIN_TIMEOUT_MS = 420_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Races `work` against a deadline whose timer is cleared after: none outlives the run (an API server keeps going). */
async function within<T, U>(work: Promise<T>, ms: number, late: () => U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<U>((r) => (timer = setTimeout(() => r(late()), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `items` through `n` workers in order. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function runScenario(d: Driver, s: PlannedScenario, acc: Accounts): Promise<void> {
  try {
    if (s.kind === 'deposit') await runDeposit(d, s, acc);
    else if (s.kind === 'trade') await runTrade(d, s, acc);
    else if (s.kind === 'withdrawal') await runWithdrawal(d, s, acc);
    else if (s.kind === 'campaign') await runCampaign(d, s, acc);
    else if (s.kind === 'transaction') await runTransaction(d, s, acc);
    else await runConfig(d, s);
  } catch (err) {
    d.violation(
      `scenario ${s.index} (${s.kind} ${s.variant}) could not run: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

export async function runWorkload(d: Driver, plan: ChaosPlan, rng: Rng, o: WorkloadOptions): Promise<ChaosResult> {
  const progress = o.progress ?? newProgress();
  Object.assign(progress, {
    phase: 'setup',
    records: d.records,
    sagasPlanned: plan.sagas,
    faultsPlanned: plan.faults.length,
  });
  o.say('opening and funding the accounts ...');
  const acc = await setUp(d, plan, rng, o.say);
  const setupMs = Date.now() - o.t0;

  progress.phase = 'load';
  const loadStart = Date.now();
  o.say(`load: ${plan.scenarios.length} scenarios over ${(plan.loadWindowMs / 1000).toFixed(0)} s, ${plan.faults.length} faults`);
  const due = (s: { atMs: number }) => sleep(loadStart + s.atMs - Date.now());
  // A wedged system must still end in a report: nothing new starts after the load deadline.
  const loadDeadline = loadStart + plan.loadWindowMs + LOAD_GRACE_MS;
  const late = () => progress.stopRequested || Date.now() > loadDeadline;
  let notStarted = 0;
  const scheduled = plan.scenarios.filter((s) => s.atMs >= 0).sort((a, b) => a.atMs - b.atMs || a.index - b.index);
  const lane = (pick: (s: PlannedScenario) => boolean) =>
    (async () => {
      for (const s of scheduled.filter(pick)) {
        await due(s);
        if (late()) notStarted++;
        else await runScenario(d, s, acc);
      }
    })();
  const reserved = {
    lockVictim: plan.scenarios.find((s) => s.kind === 'deposit' && s.variant === 'lock-victim'),
    coordinatorKill: plan.scenarios.filter((s) => s.kind === 'transaction' && s.coordinatorKill),
  };
  const faults: InjectedFault[] = [];
  progress.faults = faults;
  const faultRunner = (async () => {
    for (const f of plan.faults) {
      await due(f);
      if (late()) {
        d.violation(
          `fault ${f.kind} planned at +${(f.atMs / 1000).toFixed(1)} s was never injected: the load phase reached its deadline`,
        );
        continue;
      }
      const started = Date.now();
      o.say(`  +${((started - loadStart) / 1000).toFixed(1)} s fault ${f.kind} ...`);
      let detail: string;
      try {
        detail = await inject(d, f, acc, reserved);
      } catch (err) {
        detail = `could not be injected: ${err instanceof Error ? err.message : String(err)}`;
        d.violation(`fault ${f.kind} at +${(f.atMs / 1000).toFixed(1)} s ${detail}`);
      }
      faults.push({
        kind: f.kind,
        plannedMs: f.atMs,
        startedMs: started - loadStart,
        durationMs: Date.now() - started,
        detail,
      });
      o.say(`    ${detail}`);
    }
  })();
  const tick = setInterval(
    () =>
      o.say(
        `  +${((Date.now() - loadStart) / 1000).toFixed(0)} s: ${d.records.length} sagas started, ${faults.length}/${plan.faults.length} faults`,
      ),
    30_000,
  );
  try {
    const all = Promise.all([
      ...MARKETS.map((_, m) => lane((s) => s.kind === 'trade' && s.slot % MARKETS.length === m)),
      lane((s) => s.kind === 'config'),
      (async () => {
        const general = scheduled.filter((s) => s.kind !== 'trade' && s.kind !== 'config');
        await pool(general, RUNNERS, async (s) => {
          await due(s);
          if (late()) notStarted++;
          else await runScenario(d, s, acc);
        });
      })(),
      faultRunner,
    ]);
    // Scenarios blocked on a saga that never moves are left behind at the deadline (their sagas are drained below).
    const stuck = await within(
      all.then(() => false),
      loadDeadline + 60_000 - Date.now(),
      () => true,
    );
    if (stuck)
      d.violation(
        `the load phase did not end within ${((loadDeadline + 60_000 - loadStart) / 1000).toFixed(0)} s: client calls were still waiting on sagas`,
      );
  } finally {
    clearInterval(tick);
  }
  if (notStarted > 0) d.violation(`${notStarted} planned scenarios never started: the load phase reached its deadline`);
  const loadMs = Date.now() - loadStart;

  progress.phase = 'drain';
  o.say(`drain: cancelling resting orders, then waiting for ${d.records.length} sagas to finish ...`);
  const drainStart = Date.now();
  const drainDeadline = () => (progress.stopRequested ? 0 : drainStart + (o.drainTimeoutMs ?? DRAIN_TIMEOUT_MS));
  const stillRunning = () => 'still running at the drain deadline';
  await within(
    pool(
      d.records.filter((r) => r.cancelAtEnd),
      8,
      (r) => cancelResting(d, r.cancelAtEnd!.orderId, r.cancelAtEnd!.owner),
    ),
    drainDeadline() - Date.now(),
    stillRunning,
  );
  // Every saga gets until the deadline, and at least a few seconds more: one already finished still answers.
  await pool(d.records, 64, async (r) => {
    const outcome = r.configId ? configOutcome(d, r.configId) : outcomeOf(d, r.workflowId);
    r.observed = await within(outcome, Math.max(drainDeadline() - Date.now(), 5_000), stillRunning);
  });
  const drainMs = Date.now() - drainStart;
  progress.phase = 'verify';
  o.say(`drained in ${(drainMs / 1000).toFixed(1)} s; checking ...`);
  const violations = [...d.violations, ...(await verify(d, acc))];
  progress.phase = 'done';
  return {
    plan,
    records: d.records,
    faults,
    ...(o.skipped ? { skipped: o.skipped } : {}),
    violations,
    notes: [...d.notes],
    setupMs,
    loadMs,
    drainMs,
    totalMs: Date.now() - o.t0,
    machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()}`,
  };
}
