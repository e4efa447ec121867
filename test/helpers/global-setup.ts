import fs from 'node:fs';
import path from 'node:path';
import { loadCommonConfig } from '../../src/config';
import { PROJECT_ROOT, startStack, type Stack } from '../../src/infra/stack';
import { createLogger } from '../../src/logger';

/**
 * Starts one Temporal dev server and one PostgreSQL for the whole run (or uses
 * TEMPORAL_ADDRESS / DATABASE_URL); each test file then makes its own database.
 */
export default async function globalSetup(): Promise<void> {
  const config = loadCommonConfig();
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn', 'txmgr-test-stack');
  const dataDir = path.resolve(PROJECT_ROOT, config.dataDir, 'test', `run-${process.pid}`);
  fs.rmSync(dataDir, { recursive: true, force: true });
  const stack = await startStack({
    logger,
    // One directory per run, so concurrent runs (a developer's and an editor's) never share a cluster.
    dataDir,
    namespace: config.namespace,
    databaseName: 'txmgr_test_admin',
    temporalAddress: config.temporalAddress,
    databaseUrl: config.databaseUrl,
    durablePostgres: false,
  });
  // Test workers are forked after this and inherit the environment.
  process.env.TXMGR_TEST_TEMPORAL_ADDRESS = stack.temporalAddress;
  process.env.TXMGR_TEST_ADMIN_URL = stack.adminUrl ?? stack.databaseUrl;
  process.env.TXMGR_TEST_NAMESPACE = stack.namespace;
  (globalThis as { __txmgrStack?: Stack }).__txmgrStack = stack;
  (globalThis as { __txmgrDataDir?: string }).__txmgrDataDir = dataDir;
}
