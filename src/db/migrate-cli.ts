#!/usr/bin/env node
import { ConfigError, loadMigrateConfig } from '../config';
import { createLogger } from '../logger';
import { DatabaseUnavailableError, describeDatabase, migrate } from './migrate';

/**
 * `npm run migrate` (node dist/db/migrate-cli.js): applies pending migrations to
 * DATABASE_URL. Exit 2 for a missing or bad DATABASE_URL, 1 for an unreachable database
 * or a failed migration, each as one line on stderr.
 */
async function main(): Promise<void> {
  const config = loadMigrateConfig();
  const logger = createLogger(config.logLevel);
  const applied = await migrate(config.databaseUrl, logger);
  logger.info({ applied }, `applied ${applied.length} migration(s) to ${describeDatabase(config.databaseUrl)}`);
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
