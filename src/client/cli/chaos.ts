import path from 'node:path';
import type { Command } from 'commander';
import { buildPlan } from '../../chaos/plan';
import { planLines, runChaos, writeReport } from '../../chaos/run';
import { createLogger } from '../../logger';
import { InvalidOptionValue, positiveInt } from './command';
import { failed, printLine } from './printer';

interface ChaosOptions {
  seed: number;
  sagas: number;
  workers: number;
  outageSeconds: number;
  dataDir?: string;
  report?: string;
  planOnly?: boolean;
}

const wholeNumber = (name: string) => (value: string) => {
  if (!/^[0-9]{1,9}$/.test(value)) throw new InvalidOptionValue(`${name} must be a whole number, got "${value}"`);
  return Number(value);
};

const fromCwd = (p: string) => path.resolve(process.env.INIT_CWD ?? process.cwd(), p);

/**
 * `txmgr chaos`: starts its own stack as separate processes, runs a seeded mixed workload
 * while injecting seeded faults, waits until every saga is terminal, checks outcomes and
 * invariants, writes a Markdown report; exits 1 on any violation.
 */
export function registerChaosCommand(program: Command): void {
  program
    .command('chaos')
    .description(
      'run a seeded chaos test on its own stack (PostgreSQL, a file-backed Temporal dev server, the chain simulator, ' +
        'worker processes): a mixed workload of every saga under worker kills, database and dev-server restarts, a ' +
        'database outage and more; checks every outcome and invariant and writes a report',
    )
    .option('--seed <n>', 'the seed: the same seed gives the same workload and fault schedule', wholeNumber('--seed'), 1)
    .option('--sagas <n>', 'how many sagas to run', positiveInt('--sagas'), 200)
    .option('--workers <n>', 'worker processes (at least 2)', positiveInt('--workers'), 2)
    .option('--outage-seconds <s>', 'length of the PostgreSQL outage', positiveInt('--outage-seconds'), 180)
    .option('--data-dir <dir>', 'where the run keeps its stack (emptied first)', undefined)
    .option('--report <file>', 'write the Markdown report here')
    .option('--plan-only', 'print the workload digest and the fault schedule, run nothing')
    .action(async (o: ChaosOptions) => {
      if (o.workers < 2) throw new InvalidOptionValue('--workers must be at least 2');
      if (o.planOnly) {
        for (const line of planLines(buildPlan(o))) printLine(line);
        return;
      }
      const dataDir = fromCwd(o.dataDir ?? path.join('.data', `chaos-${o.seed}`));
      const logger = createLogger(process.env.LOG_LEVEL ?? 'error', 'txmgr-chaos');
      const { result, report } = await runChaos({ ...o, dataDir, logger, say: (line) => printLine(line) });
      if (o.report) {
        writeReport(fromCwd(o.report), report);
        printLine(`report written to ${fromCwd(o.report)}`);
      }
      const n = result.violations.length;
      const kinds = new Map<string, number>();
      for (const r of result.records) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      printLine(
        `${result.records.length} sagas (${[...kinds].map(([k, c]) => `${c} ${k}`).join(', ')}), ${result.faults.length} faults, drained in ${(result.drainMs / 1000).toFixed(1)} s, ${n} violation${n === 1 ? '' : 's'}`,
      );
      for (const v of result.violations) printLine(`violation  ${v}`);
      if (n > 0)
        throw failed(
          'ChaosViolations',
          `${n} violation${n === 1 ? '' : 's'} in the chaos run with seed ${o.seed}`,
          'see the report',
        );
    });
}
