#!/usr/bin/env node
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadWorkerConfig } from './config';
import { migrate } from './db/migrate';
import { createPool } from './db/pool';
import { createLogger } from './logger';
import { installRuntime } from './temporal/runtime';
import { createWorker } from './worker-factory';

/**
 * The worker process: reads the environment (failing fast on anything missing),
 * applies migrations, serves txmgr's task queue and drains on SIGINT/SIGTERM.
 */
async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger(config.logLevel);
  installRuntime(logger, { metricsBindAddress: config.metricsBindAddress });
  const pool = createPool({ databaseUrl: config.databaseUrl, max: config.poolMax, applicationName: 'txmgr-worker' });
  await migrate(config.databaseUrl, logger);
  const connection = await NativeConnection.connect({ address: config.temporalAddress });
  const worker = await createWorker({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    pool,
    logger,
    maxConcurrentActivities: config.maxConcurrentActivities,
    shutdownGraceMs: config.shutdownGraceMs,
  });
  // Worker.run() already drains on SIGINT/SIGTERM (shutdownSignals); log the reason.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () =>
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight tasks'),
    );
  }
  logger.info({ taskQueue: config.taskQueue, namespace: config.namespace }, 'worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
    logger.info('worker stopped');
  }
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
