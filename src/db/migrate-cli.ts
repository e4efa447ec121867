#!/usr/bin/env node
import { ConfigError, loadMigrateConfig } from '../config';
import { createLogger } from '../logger';
import { ensureAppLogin } from './app-role';
import { DatabaseUnavailableError, describeDatabase, migrate } from './migrate';

/**
 * `npm run migrate` (node dist/db/migrate-cli.js): applies pending migrations to
 * DATABASE_URL (the owner's URL); with APP_DATABASE_URL, then makes sure that URL's login
 * role exists with its password, as a member of txmgr_app (rows only, no schema). Exit 2 for a missing or bad DATABASE_URL, 1 for an unreachable database
 * or a failed migration, each as one line on stderr.
 */
async function main(): Promise<void> {
  const config = loadMigrateConfig();
  const logger = createLogger(config.logLevel);
  const applied = await migrate(config.databaseUrl, logger);
  logger.info({ applied }, `applied ${applied.length} migration(s) to ${describeDatabase(config.databaseUrl)}`);
  if (config.appDatabaseUrl) {
    await ensureAppLogin(config.databaseUrl, config.appDatabaseUrl);
    logger.info(`the application's login role ${new URL(config.appDatabaseUrl).username} is a member of txmgr_app`);
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  const message =
    err instanceof DatabaseUnavailableError ? err.message : `migration failed: ${String((err as Error)?.message ?? err)}`;
  process.stderr.write(`${message.split('\n')[0]}\n`);
  process.exit(1);
});
