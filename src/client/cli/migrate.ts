import type { Command } from 'commander';
import { migrate } from '../../db/migrate';
import { handler } from './command';
import { toCliError } from './errors';
import { printJson, printLine } from './printer';

/** `txmgr migrate`: applies pending migrations to DATABASE_URL. */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description("apply txmgr's pending database migrations to DATABASE_URL (each in its own transaction)")
    .action(
      handler(async (ctx, out) => {
        const url = ctx.databaseUrl;
        await ctx.db({ schema: false }); // a clear "cannot reach" before the migration library's own errors
        let applied: string[];
        try {
          applied = await migrate(url);
        } catch (err) {
          throw toCliError(err, ctx);
        }
        if (out.json) return printJson({ applied });
        printLine(
          applied.length ? `applied ${applied.length} migrations: ${applied.join(', ')}` : 'database schema is up to date',
        );
      }),
    );
}
