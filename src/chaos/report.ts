import type { SagaRecord } from './driver';
import type { InjectedFault } from './faults';
import { describeSchedule, describeWorkload, workloadDigest, type ChaosPlan, type PlannedFault } from './plan';

/** A planned fault the run did not inject, and why (a stack the run does not own has no processes to kill). */
export interface SkippedFault {
  kind: PlannedFault['kind'];
  plannedMs: number;
  reason: string;
}

export interface ChaosResult {
  plan: ChaosPlan;
  records: SagaRecord[];
  faults: InjectedFault[];
  skipped?: SkippedFault[];
  /** How to run it again; default the `txmgr chaos` command line. */
  reproduce?: string;
  violations: string[];
  notes: string[];
  setupMs: number;
  loadMs: number;
  drainMs: number;
  totalMs: number;
  machine: string;
}

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The run's Markdown report: seed, sagas by kind and outcome, faults with their times, violations, time to drain. */
export function renderReport(r: ChaosResult): string {
  const p = r.plan;
  const lines: string[] = [];
  lines.push(`# txmgr chaos run — seed ${p.seed}`, '');
  const reproduce = r.reproduce ?? `txmgr chaos --seed ${p.seed} --sagas ${p.sagas} --outage-seconds ${p.outageSeconds}`;
  lines.push(`Reproduce: \`${reproduce}\``, '');
  lines.push(`Result: **${r.violations.length === 0 ? 'PASS' : 'FAIL'}** — ${r.violations.length} violation(s).`, '');
  lines.push('| | |', '| --- | --- |');
  lines.push(`| seed | ${p.seed} |`);
  lines.push(`| sagas | ${r.records.length} (planned ${p.sagas}) |`);
  lines.push(`| worker processes | ${p.workers} |`);
  lines.push(`| workload digest | \`${workloadDigest(p)}\` |`);
  lines.push(`| set-up (stack, accounts, funding) | ${s(r.setupMs)} |`);
  lines.push(`| load window (planned) | ${s(p.loadWindowMs)}, actual ${s(r.loadMs)} |`);
  lines.push(`| time to drain (after the load and faults, until every saga was terminal) | ${s(r.drainMs)} |`);
  lines.push(`| total | ${s(r.totalMs)} |`);
  lines.push(`| machine | ${r.machine} |`, '');

  lines.push('## Sagas by kind and outcome', '');
  lines.push('| kind | outcome | expected | count |', '| --- | --- | --- | ---: |');
  const groups = new Map<string, number>();
  for (const rec of r.records) {
    const verdict =
      rec.observed === rec.expected
        ? 'yes'
        : rec.observed === rec.alsoAllowed
          ? `allowed (instead of ${rec.expected}; nothing applied)`
          : `no (${rec.expected})`;
    const k = `${rec.kind}|${rec.observed ?? 'never'}|${verdict}`;
    groups.set(k, (groups.get(k) ?? 0) + 1);
  }
  for (const [k, n] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const [kind, outcome, ok] = k.split('|');
    lines.push(`| ${kind} | ${outcome} | ${ok} | ${n} |`);
  }
  lines.push('', '### Workload (scenarios by variant)', '', '```', ...describeWorkload(p), '```', '');

  lines.push('## Faults injected', '');
  lines.push('| planned | started | took | fault | what happened |', '| ---: | ---: | ---: | --- | --- |');
  for (const f of r.faults) {
    lines.push(
      `| +${s(f.plannedMs)} | +${s(f.startedMs)} | ${s(f.durationMs)} | ${f.kind} | ${f.detail.replace(/\|/g, '\\|')} |`,
    );
  }
  if (r.skipped?.length) {
    lines.push('', '### Faults skipped', '', '| planned | fault | why |', '| ---: | --- | --- |');
    for (const f of r.skipped) lines.push(`| +${s(f.plannedMs)} | ${f.kind} | ${f.reason.replace(/\|/g, '\\|')} |`);
  }
  lines.push('', '### The schedule as planned (the same for the same seed)', '', '```', ...describeSchedule(p), '```', '');

  lines.push('## Violations', '');
  if (r.violations.length === 0) lines.push('None.');
  else for (const v of r.violations) lines.push(`- ${v}`);
  if (r.notes.length) lines.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  lines.push('');
  return lines.join('\n');
}
