import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Pool } from 'pg';
import { ensureRecoverySchedule } from './client/transactions';
import { StartupCheckError, type WorkerConfig } from './config';
import { describeDatabase, schemaProblem, schemaStatus, unavailable } from './db/migrate';
import { createPool } from './db/pool';
import type { Logger } from './logger';

/**
 * The transaction core's part of the worker: the custody database's pool (when
 * CUSTODY_DATABASE_URL is set; its schema checked like the ledger's) and the Temporal
 * Schedule that runs the in-doubt check.
 */
export async function startCustodyAndRecovery(
  config: WorkerConfig,
  connection: NativeConnection,
  logger: Logger,
): Promise<{ pool?: Pool }> {
  let pool: Pool | undefined;
  if (config.custodyDatabaseUrl) {
    const problem = schemaProblem(await schemaStatus(config.custodyDatabaseUrl));
    if (problem) throw new StartupCheckError(`custody ${describeDatabase(config.custodyDatabaseUrl)}: ${problem}`);
    pool = createPool({ databaseUrl: config.custodyDatabaseUrl, max: config.poolMax, applicationName: 'txmgr-worker' });
    await pool.query('SELECT 1').catch(async (err: unknown) => {
      await pool?.end();
      throw unavailable(config.custodyDatabaseUrl as string, err);
    });
  } else {
    logger.info('CUSTODY_DATABASE_URL is not set: custody operations and 2pc transactions are refused');
  }
  await ensureRecoverySchedule(new Client({ connection, namespace: config.namespace }), config.taskQueue);
  return { pool };
}
