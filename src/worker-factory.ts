import type { Pool } from 'pg';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from './activities';
import type { ChainGateway } from './chain/gateway';
import type { Logger } from './logger';

export const WORKFLOWS_PATH = require.resolve('./workflows');

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  pool: Pool;
  /** The custody database; without it custody operations and 2pc are refused. */
  custodyPool?: Pool;
  logger: Logger;
  maxConcurrentActivities?: number;
  shutdownGraceMs?: number;
  /** A prebuilt bundle (tests bundle once per file); otherwise bundled from src. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** The chain gateway for crypto withdrawals, and the key that seals one-time codes (default TXMGR_TOTP_KEY). */
  chain?: ChainGateway;
  totpKey?: Buffer;
  /** Extra activities (tests only: fakes of systems outside txmgr). */
  extraActivities?: Record<string, (...args: never[]) => unknown>;
}

/** Bundles the workflows once; pass the result to every worker you create. */
export function bundleWorkflows(workflowsPath = WORKFLOWS_PATH): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    workflowsPath,
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    },
  });
}

/** A worker for txmgr's task queue with every workflow and activity registered. */
export async function createWorker(o: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle ? { workflowBundle: o.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...createActivities({ pool: o.pool, custodyPool: o.custodyPool, logger: o.logger, chain: o.chain, totpKey: o.totpKey }),
      ...(o.extraActivities ?? {}),
    },
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 16,
    shutdownGraceTime: o.shutdownGraceMs ?? 10_000,
  });
}
