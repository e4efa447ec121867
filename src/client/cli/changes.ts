import type { Command } from 'commander';
import { Client } from 'pg';
import { CHANGES_CHANNEL, readChanges, type Change } from '../../db/changes';
import { formatHlc } from '../../domain/hlc';
import { handler, positiveInt } from './command';
import { badInput, printLine } from './printer';

const line = (c: Change, json: boolean): string =>
  json
    ? JSON.stringify(c)
    : `${c.cursor}  ${formatHlc(c.hlc)}  ${c.entity} ${c.entityId} ${c.change}${c.workflowId ? `  (${c.workflowId})` : ''}`;

/** `txmgr changes [--follow] [--entity <e>] [--after <cursor>]`: the change log, in commit-safe order. */
export function registerChangesCommand(program: Command): void {
  program
    .command('changes')
    .description(
      'the change log: every committed change with its HLC stamp (--follow waits for more; one JSON line each with --json)',
    )
    .option('--follow', 'keep reading as changes commit (Ctrl-C stops)')
    .option('--entity <entity>', 'only this entity: transfer, hold, account')
    .option('--after <cursor>', 'start after this cursor (the first column of a line)')
    .option('--limit <n>', 'at most this many (without --follow)', positiveInt('--limit'), 100)
    .action(
      handler(async (ctx, out, o: { follow?: boolean; entity?: string; after?: string; limit: number }) => {
        if (o.after !== undefined && !/^\d+:\d+$/.test(o.after)) {
          throw badInput('ValidationError', `--after must be a cursor "<xid>:<id>" as printed, got "${o.after}"`);
        }
        const pool = await ctx.db();
        let cursor = o.after;
        const page = async (limit: number): Promise<number> => {
          const batch = await readChanges(pool, cursor, limit, { entity: o.entity });
          for (const c of batch) printLine(line(c, out.json));
          if (batch.length > 0) cursor = batch[batch.length - 1]?.cursor;
          return batch.length;
        };
        if (!o.follow) {
          await page(o.limit);
          return;
        }
        // NOTIFY wakes the follower; a poll every second covers entries held back by a transaction in flight.
        const listener = new Client({ connectionString: ctx.databaseUrl });
        await listener.connect();
        let wake: () => void = () => undefined;
        listener.on('notification', () => wake());
        await listener.query(`LISTEN ${CHANGES_CHANNEL}`);
        const stop = new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        let stopped = false;
        void stop.then(() => {
          stopped = true;
          wake();
        });
        try {
          while (!stopped) {
            while ((await page(500)) > 0);
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, 1000);
            });
          }
        } finally {
          await listener.end().catch(() => undefined);
        }
      }),
    );
}
