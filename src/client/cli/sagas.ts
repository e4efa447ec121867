import type { Command } from 'commander';
import { SAGA_STATUSES } from '../../domain/saga-kinds';
import { formatDuration, listSagas } from '../sagas';
import { InvalidOptionValue, handler, positiveInt } from './command';
import { printJson, printTable } from './printer';

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** "90s", "5m", "2h", "1d" or plain seconds, as milliseconds; refused naming the option. */
export const duration =
  (name: string) =>
  (value: string): number => {
    const m = /^([1-9][0-9]{0,8})(s|m|min|h|d)?$/.exec(value.trim());
    if (!m) throw new InvalidOptionValue(`${name} must be a duration such as 90s, 5m, 2h or 1d, got "${value}"`);
    return Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1_000);
  };

/** `txmgr sagas list`: sagas on this task queue by kind, status and age; those needing attention say why. */
export function registerSagasCommands(program: Command): void {
  const sagas = program.command('sagas').description('sagas in Temporal: list them, find those needing attention');
  sagas
    .command('list')
    .description(
      'sagas on TEMPORAL_TASK_QUEUE, newest first (Temporal visibility); COMPENSATION_FAILED ones and those running ' +
        'longer than their kind is expected to are marked as needing attention (a trade whose order rests on the ' +
        'book is expected to run until filled, cancelled or expired)',
    )
    .option('--kind <kind>', 'only this kind, e.g. deposit')
    .option('--status <status>', `only this saga status: ${SAGA_STATUSES.join(', ')}`)
    .option('--older-than <duration>', 'only sagas started at least this long ago, e.g. 2h', duration('--older-than'))
    .option('--attention', 'only sagas needing attention')
    .option('--expected <duration>', "treat every kind's expected running time as this (drills)", duration('--expected'))
    .option('--limit <n>', 'at most this many', positiveInt('--limit'), 50)
    .action(
      handler(
        async (
          ctx,
          out,
          o: { kind?: string; status?: string; olderThan?: number; attention?: boolean; expected?: number; limit: number },
        ) => {
          const listed = await listSagas(await ctx.temporal(), {
            // With the database, a resting order or an active campaign is shown waiting, not stuck.
            pool: ctx.hasDatabase ? await ctx.db() : undefined,
            kind: o.kind,
            status: o.status,
            taskQueue: ctx.taskQueue,
            olderThanMs: o.olderThan,
            attention: o.attention === true,
            expectedMs: o.expected,
            limit: o.limit,
          });
          if (out.json) return printJson(listed);
          printTable(
            [
              ['workflowId', 'SAGA'],
              ['kind', 'KIND'],
              ['shownStatus', 'STATUS'],
              ['startTime', 'STARTED'],
              ['age', 'AGE'],
              ['attention', 'NEEDS ATTENTION'],
              // Only when some saga waits by design (a resting order, an active campaign).
              ...(listed.some((l) => l.waitingFor) ? [['waitingFor', 'WAITING FOR'] as [string, string]] : []),
            ],
            listed.map((l) => ({
              ...l,
              shownStatus: l.status === l.executionStatus ? l.status : `${l.status} (${l.executionStatus})`,
              age: formatDuration(l.ageMs),
            })),
          );
        },
      ),
    );
}
