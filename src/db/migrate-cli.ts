#!/usr/bin/env node
import { createLogger } from '../logger';
import { migrate } from './migrate';

/** `node dist/db/migrate-cli.js`: applies pending migrations to DATABASE_URL (used by docker-compose). */
async function main(): Promise<void> {
  const logger = createLogger();
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is required');
  const applied = await migrate(url, logger);
  logger.info({ applied }, `applied ${applied.length} migration(s)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
