import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../logger';
import { Driver, outcomeOf } from './driver';
import { inject, type InjectedFault } from './faults';
import { buildPlan, describeSchedule, workloadDigest, type ChaosPlan, type PlannedScenario } from './plan';
import { renderReport, type ChaosResult } from './report';
import { Rng } from './rng';
import { cancelResting, MARKETS, runDeposit, runTrade, runWithdrawal } from './scenarios';
import { configOutcome, runCampaign, runConfig, runTransaction } from './scenarios-more';
import { setUp, type Accounts } from './setup';
import { ChaosStack } from './stack';
import { verify } from './verify';

export interface ChaosOptions {
  seed: number;
  sagas: number;
  workers: number;
  outageSeconds: number;
  dataDir: string;
  logger: Logger;
  say: (line: string) => void;
  /** How long the drain may take before the sagas still running are reported as never finishing. */
  drainTimeoutMs?: number;
}

/** Concurrent clients for the scenarios that do not run in a lane. */
const RUNNERS = 12;
/** How long past the planned window scenarios and faults may still start. */
const LOAD_GRACE_MS = 300_000;
/** Default drain limit: sagas still running after it are reported as never finishing. */
const DRAIN_TIMEOUT_MS = 420_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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

/** The plan alone (`--plan-only`): what a seed does, without running it. */
export function planLines(plan: ChaosPlan): string[] {
  return [
    `chaos plan: seed ${plan.seed}, ${plan.sagas} sagas, ${plan.workers} workers, outage ${plan.outageSeconds} s, load window ${(plan.loadWindowMs / 1000).toFixed(0)} s`,
    `workload digest ${workloadDigest(plan)}`,
    'fault schedule:',
    ...describeSchedule(plan).map((l) => `  ${l}`),
  ];
}

export async function runChaos(o: ChaosOptions): Promise<{ result: ChaosResult; report: string }> {
  const t0 = Date.now();
  const plan = buildPlan(o);
  for (const line of planLines(plan)) o.say(line);
  const totpKey = randomBytes(32);
  const stack = new ChaosStack({
    dataDir: o.dataDir,
    workers: o.workers,
    logger: o.logger,
    say: o.say,
    totpKeyHex: totpKey.toString('hex'),
  });
  fs.mkdirSync(o.dataDir, { recursive: true });
  o.say(
    `starting PostgreSQL, the Temporal dev server (file-backed), the chain simulator and ${o.workers} workers in ${o.dataDir} ...`,
  );
  let driver: Driver | undefined;
  try {
    await stack.start();
    const d = (driver = await Driver.connect(stack, plan.seed, totpKey));
    o.say('opening and funding the accounts ...');
    const acc = await setUp(d, plan, new Rng(plan.seed ^ 0x5eed), o.say);
    const setupMs = Date.now() - t0;

    const loadStart = Date.now();
    o.say(
      `load: ${plan.scenarios.length} scenarios over ${(plan.loadWindowMs / 1000).toFixed(0)} s, ${plan.faults.length} faults`,
    );
    const due = (s: { atMs: number }) => sleep(loadStart + s.atMs - Date.now());
    // A wedged system must still end in a report: nothing new starts after the load deadline.
    const loadDeadline = loadStart + plan.loadWindowMs + LOAD_GRACE_MS;
    const late = () => Date.now() > loadDeadline;
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
    const progress = setInterval(
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
      const stuck = await Promise.race([all.then(() => false), sleep(loadDeadline + 60_000 - Date.now()).then(() => true)]);
      if (stuck)
        d.violation(
          `the load phase did not end within ${((loadDeadline + 60_000 - loadStart) / 1000).toFixed(0)} s: client calls were still waiting on sagas`,
        );
    } finally {
      clearInterval(progress);
    }
    if (notStarted > 0) d.violation(`${notStarted} planned scenarios never started: the load phase reached its deadline`);
    const loadMs = Date.now() - loadStart;

    o.say(`drain: cancelling resting orders, then waiting for ${d.records.length} sagas to finish ...`);
    const drainStart = Date.now();
    const drainDeadline = drainStart + (o.drainTimeoutMs ?? DRAIN_TIMEOUT_MS);
    const giveUp = new Promise<string>((r) =>
      setTimeout(() => r('still running at the drain deadline'), drainDeadline - Date.now()).unref(),
    );
    await Promise.race([
      pool(
        d.records.filter((r) => r.cancelAtEnd),
        8,
        (r) => cancelResting(d, r.cancelAtEnd!.orderId, r.cancelAtEnd!.owner),
      ),
      giveUp,
    ]);
    // Every saga gets until the deadline, and at least a few seconds more: one already finished still answers.
    await pool(d.records, 64, async (r) => {
      const limit = sleep(Math.max(drainDeadline - Date.now(), 5_000)).then(() => 'still running at the drain deadline');
      r.observed = await Promise.race([r.configId ? configOutcome(d, r.configId) : outcomeOf(d, r.workflowId), limit]);
    });
    const drainMs = Date.now() - drainStart;
    o.say(`drained in ${(drainMs / 1000).toFixed(1)} s; checking ...`);
    const violations = [...d.violations, ...(await verify(d, acc))];
    const result: ChaosResult = {
      plan,
      records: d.records,
      faults,
      violations,
      notes: [...d.notes, ...stack.chainRestarts],
      setupMs,
      loadMs,
      drainMs,
      totalMs: Date.now() - t0,
      machine: `${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${os.platform()}`,
    };
    return { result, report: renderReport(result) };
  } finally {
    await driver?.close();
    await stack.stop().catch(() => undefined);
  }
}

/** Writes the report (creating its directory). */
export function writeReport(file: string, report: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, report);
}
