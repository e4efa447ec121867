#!/usr/bin/env node
import { ConfigError, loadWorkerConfig, StartupCheckError } from './config';
import { DatabaseUnavailableError, describeDatabase, schemaProblem, schemaStatus, unavailable } from './db/migrate';
import { createPool } from './db/pool';
import { setLockTimeout } from './db/transaction';
import { createLogger, type Logger } from './logger';
import { connectCheckedTemporal } from './temporal/cluster-checks';
import { installRuntime } from './temporal/runtime';
import { createWorker } from './worker-factory';
import { startCustodyAndRecovery } from './worker-txcore';
import { chainGatewayFromEnv } from './chain/from-env';

/**
 * The worker process: reads the environment (failing fast on anything missing), checks
 * the database schema and the Temporal namespace before it polls, serves txmgr's task
 * queue and drains on SIGINT/SIGTERM. Migrations are `npm run migrate`'s job.
 */
async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const logger = createLogger(config.logLevel);
  installRuntime(logger, { metricsBindAddress: config.metricsBindAddress });

  // The schema first: a worker on a schema it does not match would fail every activity.
  const problem = schemaProblem(await schemaStatus(config.databaseUrl));
  if (problem) throw new StartupCheckError(`${describeDatabase(config.databaseUrl)}: ${problem}`);
  setLockTimeout(config.lockTimeoutMs);
  const pool = createPool({ databaseUrl: config.databaseUrl, max: config.poolMax, applicationName: 'txmgr-worker' });
  try {
    await pool.query('SELECT 1').catch((err: unknown) => {
      throw unavailable(config.databaseUrl, err);
    });
    const connection = await connectCheckedTemporal({
      address: config.temporalAddress,
      namespace: config.namespace,
      logger,
      register: config.registerSearchAttributes,
    });
    try {
      await serve(config, logger, pool, connection);
    } finally {
      await connection.close();
    }
  } finally {
    await pool.end();
  }
  logger.info('worker stopped');
}

/** How long after the shutdown grace a drain that has not finished is cut short. */
const HARD_STOP_MARGIN_MS = 20_000;

async function serve(
  config: ReturnType<typeof loadWorkerConfig>,
  logger: Logger,
  pool: ReturnType<typeof createPool>,
  connection: Awaited<ReturnType<typeof connectCheckedTemporal>>,
): Promise<void> {
  const custody = await startCustodyAndRecovery(config, connection, logger);
  const worker = await createWorker({
    connection,
    namespace: config.namespace,
    taskQueue: config.taskQueue,
    pool,
    custodyPool: custody.pool,
    logger,
    maxConcurrentActivities: config.maxConcurrentActivities,
    shutdownGraceMs: config.shutdownGraceMs,
    chain: chainGatewayFromEnv(),
  });
  // Worker.run() already drains on SIGINT/SIGTERM (shutdownSignals); log the reason.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down: draining in-flight tasks');
      // An activity that ignores its cancellation (stuck in a call that never returns) must not keep
      // the process forever: past the grace and a margin it exits, as a kill would; its retry runs elsewhere.
      setTimeout(() => {
        logger.error(
          { graceMs: config.shutdownGraceMs, hardStopMs: HARD_STOP_MARGIN_MS },
          'shutdown: in-flight activities did not finish after the grace period; exiting without them (Temporal retries them on another worker)',
        );
        process.exit(1);
      }, config.shutdownGraceMs + HARD_STOP_MARGIN_MS).unref();
    });
  }
  logger.info({ taskQueue: config.taskQueue, namespace: config.namespace }, 'worker started');
  await worker.run().finally(() => custody.pool?.end());
}

main().catch((err: unknown) => {
  // Start-up failures are the environment's: one line on stderr, exit 2.
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof StartupCheckError || err instanceof DatabaseUnavailableError) {
    process.stderr.write(`txmgr worker cannot start: ${err.message}\n`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
