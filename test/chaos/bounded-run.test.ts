import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FAULT_KINDS } from '../../src/chaos/plan';
import { txmgr } from '../integration/cli-process';

/**
 * `txmgr chaos` as a process, bounded: a few dozen sagas of every kind on its own stack
 * (PostgreSQL, a file-backed dev server, the chain simulator, two workers) under every fault
 * kind, with a 10 s PostgreSQL outage. The full run is `npm run chaos`.
 */
const SEED = '11';
const BOUNDED = ['chaos', '--seed', SEED, '--sagas', '40', '--outage-seconds', '10'];
const env = process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {};

/** The fenced block after a heading of the report. */
const block = (report: string, heading: string): string[] => {
  const after = report.slice(report.indexOf(heading));
  return after.slice(after.indexOf('```\n') + 4, after.indexOf('\n```', after.indexOf('```\n') + 4)).split('\n');
};

describe('txmgr chaos, bounded run', () => {
  test('a bounded run under every fault kind: every saga ends as its inputs call for, zero violations, the planned schedule', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-chaos-'));
    fs.chmodSync(dir, 0o755); // PostgreSQL, run as its own user under root, must reach its directory
    const reportFile = path.join(dir, 'chaos.md');
    try {
      const run = await txmgr([...BOUNDED, '--data-dir', path.join(dir, 'stack'), '--report', reportFile], env);
      const report = fs.existsSync(reportFile)
        ? fs.readFileSync(reportFile, 'utf8')
        : `(no report)\n${run.stdout}\n${run.stderr}`;
      // On failure: every violation listed (or the run's output when it wrote no report).
      const at = report.indexOf('## Violations');
      const violations =
        at < 0
          ? report
          : report
              .slice(at + '## Violations'.length)
              .split('\n## ')[0]!
              .trim();
      expect({ code: run.code, violations }).toEqual({ code: 0, violations: 'None.' });
      expect(report).toContain(`seed ${SEED}`);
      // The schedule the run followed is the one the seed plans.
      const plan = await txmgr([...BOUNDED, '--plan-only'], env);
      const planned = plan.stdout
        .split('\n')
        .filter((l) => /^\s+\+/.test(l))
        .map((l) => l.trim());
      expect(block(report, '### The schedule as planned').map((l) => l.trim())).toEqual(planned);
      // Every fault kind was injected, none refused.
      const faults = report.slice(report.indexOf('## Faults injected'), report.indexOf('### The schedule'));
      for (const kind of FAULT_KINDS) expect(faults).toContain(`| ${kind} |`);
      expect(faults).not.toContain('could not be injected');
      // The coordinator died with both participants prepared, and the activity's first attempt outlived its timeout.
      expect(faults).toMatch(/every worker SIGKILLed while 2pc \S+ was prepared on both databases/);
      expect(faults).toMatch(/activity attempts: .*[A-Za-z] [2-9]\b/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 1_800_000);
});
