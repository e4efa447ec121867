import path from 'node:path';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger';

/** migrations/ at the project root, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');

/** Applies every pending migration in migrations/, each in its own transaction. */
export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    count: Infinity,
    singleTransaction: false,
    checkOrder: true,
    verbose: false,
    log: (msg: string) => logger?.debug({ migration: true }, msg),
    logger: logger
      ? {
          debug: () => undefined,
          info: (m: string) => logger.debug(m),
          warn: (m: string) => logger.warn(m),
          error: (m: string) => logger.error(m),
        }
      : { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  return applied.map((m) => m.name);
}
