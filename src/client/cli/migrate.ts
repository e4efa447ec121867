import type { Command } from 'commander';
import { loadMigrateConfig } from '../../config';
import { ensureAppLogin } from '../../db/app-role';
import { migrate } from '../../db/migrate';
import { handler } from './command';
import { toCliError } from './errors';
import { printJson, printLine } from './printer';

/**
 * `txmgr migrate`: applies pending migrations to DATABASE_URL (the owner's URL); with
 * APP_DATABASE_URL set, then makes sure that URL's login role is a member of txmgr_app, as
 * `npm run migrate` does.
 */
export function registerMigrateCommand(program: Command): void {
  program
    .command('migrate')
    .description(
      "apply txmgr's pending database migrations to DATABASE_URL (each in its own transaction); with APP_DATABASE_URL, give that login the application's privileges",
    )
    .action(
      handler(async (ctx, out) => {
        const url = ctx.databaseUrl;
        await ctx.db({ schema: false }); // a clear "cannot reach" before the migration library's own errors
        // Checked before anything is applied: a bad APP_DATABASE_URL changes nothing.
        const { appDatabaseUrl } = loadMigrateConfig({ DATABASE_URL: url, APP_DATABASE_URL: process.env.APP_DATABASE_URL });
        let applied: string[];
        let appRole: string | undefined;
        try {
          applied = await migrate(url);
          if (appDatabaseUrl) {
            await ensureAppLogin(url, appDatabaseUrl);
            appRole = decodeURIComponent(new URL(appDatabaseUrl).username);
          }
        } catch (err) {
          throw toCliError(err, ctx);
        }
        if (out.json) return printJson({ applied, ...(appRole ? { appRole } : {}) });
        printLine(
          applied.length ? `applied ${applied.length} migrations: ${applied.join(', ')}` : 'database schema is up to date',
        );
        if (appRole) printLine(`the application's login ${appRole} is a member of txmgr_app (rows only, no schema changes)`);
      }),
    );
}
