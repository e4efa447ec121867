import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { loadCommonConfig } from '../../src/config';
import { EMBEDDED_APP_LOGIN, ensureAppLogin, withLogin } from '../../src/db/app-role';
import { cleanUpAfter, readLock } from '../../src/infra/data-dir';
import { isRunning } from '../../src/infra/processes';
import { PROJECT_ROOT, startStack, type Stack } from '../../src/infra/stack';
import { describeFailure, exitCodeOf } from '../../src/infra/stack-error';

/**
 * Starts one Temporal dev server and one PostgreSQL for the whole run (or uses
 * TEMPORAL_ADDRESS / DATABASE_URL); each test file then makes its own database.
 * Quiet when it works: its log is kept in memory and printed only if start-up fails,
 * which ends the run with one sentence and the totals line.
 */
export default async function globalSetup(): Promise<void> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ name: 'txmgr-test-stack', level: process.env.TEST_LOG_LEVEL ?? 'info' }, sink);
  try {
    const config = loadCommonConfig();
    const runsDir = path.resolve(PROJECT_ROOT, config.dataDir, 'test');
    await removeDeadRuns(runsDir, (line) => logger.info(line));
    // One directory per run, so concurrent runs (a developer's and an editor's) never share a cluster.
    const dataDir = path.join(runsDir, `run-${process.pid}`);
    fs.rmSync(dataDir, { recursive: true, force: true });
    const stack = await startStack({
      logger,
      dataDir,
      namespace: config.namespace,
      databaseName: 'txmgr_test_admin',
      temporalAddress: config.temporalAddress,
      databaseUrl: config.databaseUrl,
      durablePostgres: false,
      ui: false,
      command: `jest (${process.argv.slice(1).join(' ')})`,
      say: (line) => logger.info(line),
    });
    // Test workers are forked after this and inherit the environment.
    process.env.TXMGR_TEST_TEMPORAL_ADDRESS = stack.temporalAddress;
    process.env.TXMGR_TEST_ADMIN_URL = stack.adminUrl ?? stack.databaseUrl;
    process.env.TXMGR_TEST_NAMESPACE = stack.namespace;
    // The application's login role (txmgr_app: rows, no schema), for workers that run as it.
    const appUrl = withLogin(stack.adminUrl ?? stack.databaseUrl, EMBEDDED_APP_LOGIN.role, EMBEDDED_APP_LOGIN.password);
    if (!stack.appDatabaseUrl) await ensureAppLogin(stack.databaseUrl, appUrl);
    process.env.TXMGR_TEST_APP_URL = appUrl;
    (globalThis as { __txmgrStack?: Stack }).__txmgrStack = stack;
    (globalThis as { __txmgrDataDir?: string }).__txmgrDataDir = dataDir;
  } catch (err) {
    // Jest would print a bare stack and no totals; CI reads the totals line.
    for (const line of lines) process.stderr.write(line);
    process.stderr.write(
      `\ntxmgr tests: the test stack did not start: ${describeFailure(err, 'fix the cause above and run npm test again')}\n`,
    );
    process.stderr.write('\n0 passed, 1 failed\n');
    process.exit(exitCodeOf(err) === 130 ? 130 : exitCodeOf(err) || 1);
  }
}

/** Stops what killed test runs left behind and removes their directories (test data is throwaway). */
async function removeDeadRuns(runsDir: string, log: (line: string) => void): Promise<void> {
  if (!fs.existsSync(runsDir)) return;
  for (const entry of fs.readdirSync(runsDir)) {
    const dir = path.join(runsDir, entry);
    const lock = readLock(dir);
    if (lock && isRunning(lock)) continue;
    if (lock) {
      const stopped = await cleanUpAfter(dir, lock);
      if (stopped.length) log(`stopped ${stopped.join(', ')} left by a test run that died (pid ${lock.pid})`);
    } else if (Date.now() - fs.statSync(dir).mtimeMs < 60_000) {
      continue; // a run that is still creating its lock
    }
    if (!readLock(dir)) fs.rmSync(dir, { recursive: true, force: true });
  }
}
