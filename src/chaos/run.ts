import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger';
import { Driver } from './driver';
import { buildPlan, describeSchedule, workloadDigest, type ChaosPlan } from './plan';
import { renderReport, type ChaosResult } from './report';
import { Rng } from './rng';
import { ChaosStack } from './stack';
import { runWorkload } from './workload';

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
    const result = await runWorkload(d, plan, new Rng(plan.seed ^ 0x5eed), {
      say: o.say,
      t0,
      drainTimeoutMs: o.drainTimeoutMs,
    });
    result.notes.push(...stack.chainRestarts);
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
