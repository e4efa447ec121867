import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { TxmgrClient } from '../client';
import type { ChaosTarget } from '../chaos/driver';
import type { ChaosResult } from '../chaos/report';
import { runOnTarget, type InProcessFault } from '../chaos/target';
import { newProgress, type RunProgress } from '../chaos/workload';
import { loadTotpKey } from '../security/secret-box';
import { API_PREFIX, type ApiDeps } from './context';
import { ApiError } from './errors';
import { queueWorkers } from './workers';

/**
 * The test runs of this server (the test routes): `txmgr chaos`'s workload, with or without
 * the in-process faults, on the stack the server is configured for. One at a time; the last
 * few are kept in memory for GET /test/runs/{id}.
 */

export type TestRunKind = 'load' | 'chaos';

export interface TestRun {
  id: string;
  kind: TestRunKind;
  seed: number;
  sagas: number;
  faults: InProcessFault[];
  startedAt: Date;
  finishedAt?: Date;
  state: 'running' | 'passed' | 'failed';
  progress: RunProgress;
  result?: ChaosResult;
  /** Why a run ended without a report (its set-up failed). */
  error?: string;
  done: Promise<void>;
}

const KEPT = 20;
/** How long closing the server waits for a run told to stop. */
const STOP_WAIT_MS = 60_000;

/** A run's own connections to the API's databases, so it does not take the API's few. */
export interface TestRunPools {
  ledger: Pool;
  custody?: Pool;
}

export const testRunUrl = (id: string) => `${API_PREFIX}/test/runs/${id}`;

export class TestRuns {
  private readonly runs = new Map<string, TestRun>();
  private current?: TestRun;

  constructor(
    private readonly deps: ApiDeps,
    private readonly o: { siphonWorkflowId?: string; pools?: TestRunPools } = {},
  ) {}

  get(id: string): TestRun | undefined {
    return this.runs.get(id);
  }

  private refuseWhileRunning(): void {
    const c = this.current;
    if (!c) return;
    throw new ApiError(
      409,
      'RunInProgress',
      `test run ${c.id} (${c.kind}) is still running, started ${c.startedAt.toISOString()}; one run at a time: wait until GET ${testRunUrl(c.id)} says passed or failed`,
      null,
    );
  }

  /** Starts a run in the background; throws 409 while one runs, 503 when the stack cannot take one. */
  async start(kind: TestRunKind, o: { seed: number; sagas: number; faults: InProcessFault[] }): Promise<TestRun> {
    this.refuseWhileRunning();
    const target = this.target();
    const totpKey = this.totpKey(target);
    const { client, config } = this.deps;
    const workers = await queueWorkers(client.temporal, client.taskQueue, config.pollerStaleSeconds);
    const polling = Math.min(workers.workflowPollers.length, workers.activityPollers.length);
    if (polling === 0) {
      throw new ApiError(
        503,
        'NoWorkers',
        `no worker polls task queue ${client.taskQueue}: a run's sagas would never finish; start the workers first`,
        null,
      );
    }
    // Checked again after the wait above: another request may have started one meanwhile.
    this.refuseWhileRunning();
    const id = randomBytes(6).toString('hex');
    const logger = this.deps.logger.child({ testRun: id });
    const run: TestRun = {
      id,
      kind,
      ...o,
      startedAt: new Date(),
      state: 'running',
      progress: newProgress(),
      done: Promise.resolve(),
    };
    run.done = runOnTarget(target, {
      ...o,
      runId: id,
      workers: polling,
      totpKey,
      say: (line) => logger.info(line),
      progress: run.progress,
    })
      .then(
        (result) => {
          run.result = result;
          run.state = result.violations.length === 0 ? 'passed' : 'failed';
        },
        (err: unknown) => {
          run.state = 'failed';
          run.error = err instanceof Error ? err.message : String(err);
          logger.warn({ err }, 'test run failed before its checks');
        },
      )
      .finally(() => {
        run.finishedAt = new Date();
        if (this.current === run) this.current = undefined;
      });
    this.current = run;
    this.runs.set(id, run);
    for (const old of [...this.runs.values()].filter((r) => r.state !== 'running').slice(0, -KEPT)) this.runs.delete(old.id);
    return run;
  }

  /** The server is closing: the running run starts nothing new and stops waiting for its sagas. */
  async stop(): Promise<void> {
    const run = this.current;
    if (!run) return;
    run.progress.stopRequested = true;
    await Promise.race([run.done, new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
  }

  private target(): ChaosTarget {
    const { client, config } = this.deps;
    const pools = this.o.pools;
    const custody = pools ? pools.custody : this.deps.custodyPool;
    if (!custody) {
      throw new ApiError(
        503,
        'NotConfigured',
        'test runs need the custody database (CUSTODY_DATABASE_URL): the workload holds 2pc transactions',
        null,
      );
    }
    const ledger = pools?.ledger ?? client.pool;
    return {
      temporal: client.temporal,
      ledger,
      custody,
      txmgr: pools ? new TxmgrClient(client.temporal, ledger, client.taskQueue) : client,
      taskQueue: client.taskQueue,
      chainUrl: config.testChainSimUrl,
      siphonWorkflowId: this.o.siphonWorkflowId,
    };
  }

  /** The workers' key for one-time codes: withdrawals need it; without a chain simulator there are none. */
  private totpKey(target: ChaosTarget): Buffer {
    if (!target.chainUrl) return randomBytes(32);
    if (this.deps.totpKey) return this.deps.totpKey;
    try {
      return loadTotpKey();
    } catch (err) {
      throw new ApiError(
        503,
        'NotConfigured',
        `test runs with a chain simulator start withdrawals and need the workers' key: ${(err as Error).message}`,
        null,
      );
    }
  }
}
