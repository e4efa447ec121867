import { createHash } from 'node:crypto';
import { Driver, type ChaosTarget } from './driver';
import { buildPlan, sagasOf, type ChaosPlan, type FaultKind, type PlannedScenario } from './plan';
import type { ChaosResult, SkippedFault } from './report';
import { Rng } from './rng';
import { runWorkload, type RunProgress } from './workload';

/**
 * The chaos run on a stack it does not own (the HTTP API's test routes): the same plan,
 * scenarios, drain and checks as `txmgr chaos`, through the target's own Temporal client and
 * databases. Only faults that act from inside are injected — the workers' sessions terminated,
 * the chain simulator's faults; the ones that stop or signal processes are skipped, with why.
 */

/** Faults a client with database and chain-simulator access can inject. */
export const IN_PROCESS_FAULTS = ['terminate-backends', 'chain-fault'] as const satisfies readonly FaultKind[];
export type InProcessFault = (typeof IN_PROCESS_FAULTS)[number];

const PROCESS_LEVEL: Partial<Record<FaultKind, string>> = {
  'worker-sigkill': 'it kills a worker process, and this server does not own its workers',
  'worker-sigterm': 'it stops a worker process, and this server does not own its workers',
  'coordinator-kill': 'it kills every worker process, and this server does not own its workers',
  'activity-timeout': 'it freezes the worker processes (SIGSTOP), and this server does not own its workers',
  'postgres-restart': 'it restarts PostgreSQL, and this server does not own it',
  'postgres-outage': 'it stops PostgreSQL, and this server does not own it',
  'temporal-restart': 'it restarts the Temporal server, and this server does not own it',
};

export interface TargetRunOptions {
  seed: number;
  sagas: number;
  /** In-process faults to inject; empty: the workload alone (a load run). */
  faults: readonly InProcessFault[];
  /** Unique per run: it is in every id and account owner the run makes, so runs never meet. */
  runId: string;
  /** Workers polling the target's task queue (the plan's worker count). */
  workers: number;
  /** The key the workers open one-time codes with (withdrawals); unused without a chain simulator. */
  totpKey: Buffer;
  say: (line: string) => void;
  progress?: RunProgress;
  drainTimeoutMs?: number;
}

/** The load window on a target: no outage to wait out, ~3 sagas a second, at least 10 s. */
export const targetWindowMs = (sagas: number): number => Math.max(10_000, sagas * 300);

/**
 * The seed's plan, fitted to a target: faults it cannot or was not asked to inject are moved to
 * `skipped`; the scenarios reserved for the skipped process-level faults (a deposit and 2pc
 * transactions) run as ordinary scenarios spread over the window; without a chain simulator the
 * withdrawals are left out (they would go to the workers' real chain gateway).
 */
export function planForTarget(
  o: Pick<TargetRunOptions, 'seed' | 'sagas' | 'faults' | 'workers'>,
  chain: boolean,
): { plan: ChaosPlan; skipped: SkippedFault[]; notes: string[] } {
  const base = buildPlan({
    seed: o.seed,
    sagas: o.sagas,
    workers: Math.max(1, o.workers),
    outageSeconds: 0,
    loadWindowMs: targetWindowMs(o.sagas),
  });
  const wanted = new Set<FaultKind>(o.faults);
  const skipped: SkippedFault[] = [];
  const faults = base.faults.filter((f) => {
    const reason =
      PROCESS_LEVEL[f.kind] ??
      (!wanted.has(f.kind)
        ? o.faults.length === 0
          ? 'a load run injects no faults'
          : 'not requested'
        : f.kind === 'chain-fault' && !chain
          ? 'no chain simulator is configured (TXMGR_API_TEST_CHAIN_SIM_URL)'
          : undefined);
    if (reason) skipped.push({ kind: f.kind, plannedMs: f.atMs, reason });
    return reason === undefined;
  });
  const reserved = base.scenarios.filter((s) => s.atMs < 0);
  const spread = (s: PlannedScenario, i: number): PlannedScenario => {
    const atMs = Math.floor((base.loadWindowMs * (i + 1)) / (reserved.length + 1));
    if (s.kind !== 'transaction') return { ...s, atMs };
    const { coordinatorKill: _unused, ...rest } = s;
    return { ...rest, atMs };
  };
  const notes: string[] = [];
  let scenarios = base.scenarios.map((s) => (s.atMs < 0 ? spread(s, reserved.indexOf(s)) : s));
  if (reserved.length)
    notes.push(
      `${reserved.length} scenarios the plan reserves for process-level faults (a deposit, 2pc transactions) ran as ordinary ones`,
    );
  if (!chain) {
    const left = scenarios.filter((s) => s.kind === 'withdrawal').length;
    scenarios = scenarios.filter((s) => s.kind !== 'withdrawal');
    if (left)
      notes.push(`${left} withdrawal scenarios left out: no chain simulator is configured (TXMGR_API_TEST_CHAIN_SIM_URL)`);
  }
  const sagas = scenarios.reduce((n, s) => n + sagasOf(s), 0);
  return { plan: { ...base, sagas, scenarios, faults }, skipped, notes };
}

/** A 31-bit number from the run id, mixed into the seed of the run's account ids. */
const salt = (runId: string): number => createHash('sha256').update(runId).digest().readInt32BE(0);

export async function runOnTarget(target: ChaosTarget, o: TargetRunOptions): Promise<ChaosResult> {
  const t0 = Date.now();
  const { plan, skipped, notes } = planForTarget(o, target.chainUrl !== undefined);
  o.say(`test run ${o.runId}: seed ${plan.seed}, ${plan.sagas} sagas, ${plan.faults.length} faults, ${skipped.length} skipped`);
  const d = new Driver(target, plan.seed, o.totpKey, { tag: `${plan.seed}-${o.runId}`, owners: `chaos-${o.runId}` });
  const result = await runWorkload(d, plan, new Rng(plan.seed ^ 0x5eed ^ salt(o.runId)), {
    say: o.say,
    t0,
    skipped,
    progress: o.progress,
    drainTimeoutMs: o.drainTimeoutMs,
  });
  result.notes.push(...notes);
  const faults = o.faults.length ? `, "faults": ${JSON.stringify(o.faults)}` : '';
  result.reproduce = `POST /api/v1/transactions/test/${o.faults.length ? 'chaos' : 'load'} {"seed": ${plan.seed}, "sagas": ${o.sagas}${faults}}`;
  return result;
}
