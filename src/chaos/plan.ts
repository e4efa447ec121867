import { createHash } from 'node:crypto';
import { Rng } from './rng';

/**
 * The chaos run's plan, computed from the seed alone before anything starts: the
 * workload (every saga with the outcome its inputs call for) and the fault schedule.
 * Same seed and sizes, same plan — no clock, no environment.
 */

export const SAGA_KINDS = ['deposit', 'trade', 'withdrawal', 'campaign', 'transaction', 'config'] as const;
export type SagaKind = (typeof SAGA_KINDS)[number];

/** One unit of client work; it starts one or more sagas, each with its expected outcome. */
export type Scenario =
  | { kind: 'deposit'; variant: 'ordinary' | 'review-approved' | 'review-rejected' | 'denied' | 'repeated' | 'lock-victim' }
  | { kind: 'trade'; variant: 'cross-ioc' | 'cross-gtc' | 'fok-rejected' | 'ioc-unfilled' | 'gtc-cancelled' | 'gtc-rest' }
  | { kind: 'withdrawal'; variant: 'completed' | 'chain-rejected' }
  | { kind: 'campaign'; variant: 'completed' | 'cancelled' }
  | { kind: 'transaction'; variant: 'atomic' | 'saga' | '2pc'; fails: boolean; coordinatorKill?: boolean }
  | { kind: 'config'; variant: 'deny-list' };

export type PlannedScenario = Scenario & {
  /** Position in the plan; ids are derived from it and the seed. */
  index: number;
  /** When to submit, in ms from the start of the load. */
  atMs: number;
  /** Seeded choices the scenario needs (account slot, amounts in minor units). */
  slot: number;
  amount: number;
};

export const FAULT_KINDS = [
  'worker-sigkill',
  'worker-sigterm',
  'postgres-restart',
  'postgres-outage',
  'temporal-restart',
  'terminate-backends',
  'chain-fault',
  'coordinator-kill',
  'activity-timeout',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
  kind: FaultKind;
  atMs: number;
  /** worker index, outage seconds, chain fault kind and calls, restart delay … */
  params: Record<string, string | number>;
}

export interface ChaosPlan {
  seed: number;
  sagas: number;
  workers: number;
  outageSeconds: number;
  loadWindowMs: number;
  scenarios: PlannedScenario[];
  faults: PlannedFault[];
}

export interface PlanOptions {
  seed: number;
  sagas: number;
  workers: number;
  outageSeconds: number;
  /** A load window of its own; default: long enough for the outage and every fault (loadWindowMs below). */
  loadWindowMs?: number;
}

/** How many sagas a scenario starts (a crossing pair is two orders, a FOK scenario its maker too). */
export function sagasOf(s: Scenario): number {
  if (s.kind === 'trade' && (s.variant === 'cross-ioc' || s.variant === 'cross-gtc' || s.variant === 'fok-rejected')) return 2;
  return 1;
}

const SCENARIO_WEIGHTS: ReadonlyArray<readonly [Scenario, number]> = [
  [{ kind: 'deposit', variant: 'ordinary' }, 10],
  [{ kind: 'deposit', variant: 'review-approved' }, 3],
  [{ kind: 'deposit', variant: 'review-rejected' }, 2],
  [{ kind: 'deposit', variant: 'denied' }, 2],
  [{ kind: 'deposit', variant: 'repeated' }, 3],
  [{ kind: 'trade', variant: 'cross-ioc' }, 4],
  [{ kind: 'trade', variant: 'cross-gtc' }, 3],
  [{ kind: 'trade', variant: 'fok-rejected' }, 2],
  [{ kind: 'trade', variant: 'ioc-unfilled' }, 2],
  [{ kind: 'trade', variant: 'gtc-cancelled' }, 2],
  [{ kind: 'trade', variant: 'gtc-rest' }, 2],
  [{ kind: 'withdrawal', variant: 'completed' }, 6],
  [{ kind: 'withdrawal', variant: 'chain-rejected' }, 2],
  [{ kind: 'campaign', variant: 'completed' }, 3],
  [{ kind: 'campaign', variant: 'cancelled' }, 2],
  [{ kind: 'transaction', variant: 'atomic', fails: false }, 5],
  [{ kind: 'transaction', variant: 'atomic', fails: true }, 2],
  [{ kind: 'transaction', variant: 'saga', fails: false }, 4],
  [{ kind: 'transaction', variant: 'saga', fails: true }, 2],
  [{ kind: 'transaction', variant: '2pc', fails: false }, 4],
  [{ kind: 'transaction', variant: '2pc', fails: true }, 2],
  [{ kind: 'config', variant: 'deny-list' }, 4],
];

/** Every kind appears at least once, in a run of any size: the first scenarios cycle through the kinds. */
const GUARANTEED: Scenario[] = [
  { kind: 'deposit', variant: 'review-approved' },
  { kind: 'deposit', variant: 'denied' },
  { kind: 'deposit', variant: 'repeated' },
  { kind: 'trade', variant: 'cross-ioc' },
  { kind: 'trade', variant: 'fok-rejected' },
  { kind: 'trade', variant: 'gtc-rest' },
  { kind: 'withdrawal', variant: 'completed' },
  { kind: 'withdrawal', variant: 'chain-rejected' },
  { kind: 'campaign', variant: 'cancelled' },
  { kind: 'transaction', variant: '2pc', fails: true },
  { kind: 'transaction', variant: 'saga', fails: true },
  { kind: 'config', variant: 'deny-list' },
];

/** The load window: long enough for the outage and every fault, ~3 sagas a second beyond that. */
export const loadWindowMs = (sagas: number, outageSeconds: number): number =>
  Math.max(90_000, Math.round(sagas * 300), outageSeconds * 1000 * 2 + 60_000);

export function buildPlan(o: PlanOptions): ChaosPlan {
  const rng = new Rng(o.seed);
  const windowMs = o.loadWindowMs ?? loadWindowMs(o.sagas, o.outageSeconds);
  const scenarios: PlannedScenario[] = [];
  let count = 0;
  const add = (s: Scenario, atMs: number) => {
    scenarios.push({ ...s, index: scenarios.length, atMs, slot: rng.int(0, 1_000_000), amount: rng.int(1, 9_999) });
    count += sagasOf(s);
  };
  // Reserved for faults: a deposit whose first attempt is frozen past its activity's timeout,
  // and 2pc transactions watched for the moment between prepare and commit.
  add({ kind: 'deposit', variant: 'lock-victim' }, -1);
  for (let i = 0; i < 6; i++) add({ kind: 'transaction', variant: '2pc', fails: false, coordinatorKill: true }, -1);
  for (const s of GUARANTEED) if (count < o.sagas) add(s, rng.int(0, Math.floor(windowMs * 0.2)));
  while (count < o.sagas) add(rng.weighted(SCENARIO_WEIGHTS), rng.int(0, windowMs));
  return {
    seed: o.seed,
    sagas: count,
    workers: o.workers,
    outageSeconds: o.outageSeconds,
    loadWindowMs: windowMs,
    scenarios,
    faults: buildFaults(rng, o, windowMs),
  };
}

function buildFaults(rng: Rng, o: PlanOptions, windowMs: number): PlannedFault[] {
  const worker = () => rng.int(0, o.workers - 1);
  const faults: Array<Omit<PlannedFault, 'atMs'>> = [
    { kind: 'worker-sigkill', params: { worker: worker(), restartAfterMs: rng.int(500, 5_000) } },
    { kind: 'worker-sigkill', params: { worker: worker(), restartAfterMs: rng.int(500, 5_000) } },
    { kind: 'worker-sigkill', params: { worker: worker(), restartAfterMs: rng.int(500, 5_000) } },
    { kind: 'worker-sigterm', params: { worker: worker() } },
    { kind: 'postgres-restart', params: {} },
    { kind: 'postgres-outage', params: { seconds: o.outageSeconds } },
    { kind: 'temporal-restart', params: {} },
    { kind: 'terminate-backends', params: { rounds: rng.int(2, 4) } },
    { kind: 'terminate-backends', params: { rounds: rng.int(2, 4) } },
    { kind: 'chain-fault', params: { fault: 'error', calls: rng.int(2, 6) } },
    { kind: 'chain-fault', params: { fault: 'timeout', calls: rng.int(1, 3), delayMs: rng.int(6_000, 9_000) } },
    { kind: 'chain-fault', params: { fault: 'reorg', calls: rng.int(1, 3), depth: rng.int(1, 2) } },
    { kind: 'chain-fault', params: { fault: 'slow', calls: rng.int(1, 3), factor: rng.int(2, 3) } },
    { kind: 'coordinator-kill', params: { restartAfterMs: rng.int(500, 3_000) } },
    { kind: 'activity-timeout', params: { holdMs: 30_000 + rng.int(8_000, 15_000) } },
  ];
  // Seeded order and times in the middle 80% of the window; the runner keeps them apart.
  const ordered = faults.map((f) => ({ f, key: rng.int(0, 1_000_000) })).sort((a, b) => a.key - b.key);
  const times = ordered.map(() => rng.int(Math.floor(windowMs * 0.1), Math.floor(windowMs * 0.85))).sort((a, b) => a - b);
  return ordered.map(({ f }, i) => ({ ...f, atMs: times[i]! }));
}

/** The fault schedule as printed and written into the report: one line per fault. */
export function describeSchedule(plan: ChaosPlan): string[] {
  return plan.faults.map((f) => {
    const params = Object.entries(f.params)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return `+${(f.atMs / 1000).toFixed(1).padStart(6)} s  ${f.kind}${params ? `  ${params}` : ''}`;
  });
}

/** The workload in one line per kind and variant, with counts (the plan's fingerprint for a person). */
export function describeWorkload(plan: ChaosPlan): string[] {
  const counts = new Map<string, number>();
  for (const s of plan.scenarios) {
    const name = `${s.kind} ${s.variant}${s.kind === 'transaction' ? (s.fails ? ' failing' : ' ok') : ''}${
      s.kind === 'transaction' && s.coordinatorKill ? ' (coordinator kill)' : ''
    }`;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${String(n).padStart(5)}  ${name}`);
}

/** A short digest of the whole workload (every scenario, time, slot and amount), printed with the schedule. */
export function workloadDigest(plan: ChaosPlan): string {
  const text = plan.scenarios.map((s) => JSON.stringify(s)).join('\n');
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
