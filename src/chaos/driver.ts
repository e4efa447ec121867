import { Client, Connection, WorkflowExecutionAlreadyStartedError, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import type { Pool } from 'pg';
import { TxmgrClient } from '../client';
import type { SiphonTarget } from '../client/config';
import { createPool } from '../db/pool';
import { DomainError } from '../domain/errors';
import type { PlannedScenario, SagaKind } from './plan';
import type { ChaosStack } from './stack';

/** One saga the run started, what its inputs call for, and (after the drain) what it did. */
export interface SagaRecord {
  workflowId: string;
  kind: SagaKind;
  variant: string;
  /** The external id that must take effect exactly once (bank reference, client order id, …). */
  externalId: string;
  expected: string;
  /** An outcome the inputs also allow (a 2pc past its 30 s prepare deadline rolls back): then nothing may have taken effect. */
  alsoAllowed?: string;
  observed?: string;
  /** A resting order the run cancels at the end. */
  cancelAtEnd?: { orderId: string; owner: string };
  /** Balance changes the expected outcome makes (checked: each took effect exactly once). */
  effects?: Array<{ resource: 'ledger' | 'custody'; accountId: string; delta: bigint }>;
  /** An order: exactly one row for its owner and client order id, filled this much. */
  order?: { owner: string; clientOrderId: string; filled: string };
  /** A transaction: how many of its operations each database's journal holds as applied when it ends as expected. */
  journal?: { ledger: number; custody: number };
  /** A config transaction: its id, in submission order. */
  configId?: string;
}

/**
 * Where the run's sagas go: the Temporal client and databases of the system under test, its
 * task queue, and what the run may do to it beyond being its client.
 */
export interface ChaosTarget {
  temporal: Client;
  ledger: Pool;
  custody: Pool;
  txmgr: TxmgrClient;
  taskQueue: string;
  /** The chain simulator the workers broadcast to (its admin API injects faults, lists transactions); none: no withdrawals. */
  chainUrl?: string;
  /** The config siphon's workflow id; default config-siphon. */
  siphonWorkflowId?: string;
  /** The run's own stack, for the faults that stop and signal processes; absent on a stack the run does not own. */
  stack?: ChaosStack;
}

/** How the run names what it creates: the same seed and names make the same ids. */
export interface RunNames {
  /** In every id (bank references, client order ids, transaction ids, …): the seed, or the seed and a run id. */
  tag: string;
  /** Every account owner the run opens begins with it. */
  owners: string;
}

/** The chaos run's connections: a client of the system like any other, reconnecting after faults. */
export class Driver {
  readonly records: SagaRecord[] = [];
  readonly notes: string[] = [];
  /** Violations found while running (a worker that did not drain, a scenario that could not run). */
  readonly violations: string[] = [];
  readonly temporal: Client;
  readonly ledger: Pool;
  readonly custody: Pool;
  readonly txmgr: TxmgrClient;
  readonly taskQueue: string;
  readonly chainUrl?: string;
  readonly stack?: ChaosStack;
  readonly names: RunNames;
  private connection?: Connection;

  constructor(
    readonly target: ChaosTarget,
    readonly seed: number,
    readonly totpKey: Buffer,
    names?: RunNames,
  ) {
    this.temporal = target.temporal;
    this.ledger = target.ledger;
    this.custody = target.custody;
    this.txmgr = target.txmgr;
    this.taskQueue = target.taskQueue;
    this.chainUrl = target.chainUrl;
    this.stack = target.stack;
    this.names = names ?? { tag: String(seed), owners: 'chaos' };
  }

  /** A driver on the run's own stack: its connections are the driver's, closed with it. */
  static async connect(stack: ChaosStack, seed: number, totpKey: Buffer): Promise<Driver> {
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const temporal = new Client({ connection, namespace: stack.namespace });
    const ledger = createPool({ databaseUrl: stack.databaseUrl, max: 12, applicationName: 'txmgr-chaos' });
    const custody = createPool({ databaseUrl: stack.custodyUrl, max: 3, applicationName: 'txmgr-chaos' });
    const txmgr = new TxmgrClient(temporal, ledger, stack.taskQueue);
    const driver = new Driver(
      { temporal, ledger, custody, txmgr, taskQueue: stack.taskQueue, chainUrl: stack.chainUrl, stack },
      seed,
      totpKey,
    );
    driver.connection = connection;
    return driver;
  }

  /** Where config transactions go. */
  get siphon(): SiphonTarget {
    return { client: this.temporal, taskQueue: this.taskQueue, workflowId: this.target.siphonWorkflowId, pool: this.ledger };
  }

  /** The run's own stack, which process-level faults need. */
  ownStack(): ChaosStack {
    if (!this.stack) throw new Error('this fault stops or signals processes, and the run does not own this stack');
    return this.stack;
  }

  /** An id unique to this run and scenario: the same names make the same ids. */
  id(s: PlannedScenario, part: string): string {
    return `chaos-${this.names.tag}-${s.index}-${part}`;
  }

  /** An account owner of the run: `chaos-trader-0`, or with a run id `chaos-<run>-trader-0`. */
  owner(name: string): string {
    return `${this.names.owners}-${name}`;
  }

  record(r: SagaRecord): SagaRecord {
    this.records.push(r);
    return r;
  }

  note(line: string): void {
    this.notes.push(line);
  }

  violation(line: string): void {
    this.violations.push(line);
  }

  /** Closes what the driver opened itself (a target's own connections stay open). */
  async close(): Promise<void> {
    if (!this.connection) return;
    await this.ledger.end().catch(() => undefined);
    await this.custody.end().catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A business answer (not a fault): never retried. */
export const isAnswer = (err: unknown): boolean =>
  err instanceof DomainError || err instanceof WorkflowFailedError || err instanceof WorkflowExecutionAlreadyStartedError;

/**
 * Runs `fn` until it answers: faults (a refused connection, Temporal restarting, PostgreSQL
 * away) are retried, with backoff, for up to `forMs`; business answers are returned or thrown.
 */
export async function retrying<T>(what: string, fn: () => Promise<T>, forMs = 3_600_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (isAnswer(err) || Date.now() > deadline) throw err;
      await sleep(Math.min(250 * 2 ** Math.min(attempt, 4), 4_000));
    }
  }
  // unreachable
  void what;
}

/** Starts something whose retry may find it already started (a lost answer): both mean started. */
export async function startOnce(what: string, fn: () => Promise<unknown>): Promise<void> {
  await retrying(what, async () => {
    try {
      await fn();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
}

/** The failure's own type: the innermost ApplicationFailure (or the failure's class) in the chain. */
export function failureType(err: unknown): string {
  let c: unknown = err instanceof WorkflowFailedError ? err.cause : err;
  while (c instanceof TemporalFailure && !(c instanceof ApplicationFailure) && c.cause) c = c.cause;
  if (c instanceof ApplicationFailure) return c.type ?? 'ApplicationFailure';
  return c instanceof Error ? c.name : 'unknown';
}

/** A finished saga's outcome in one word: its result's outcome or status, or `failed:<type>`. */
export async function outcomeOf(d: Driver, workflowId: string): Promise<string> {
  return retrying(`the outcome of ${workflowId}`, async () => {
    try {
      const result = (await d.temporal.workflow.getHandle(workflowId).result()) as { outcome?: string; status?: string };
      return String(result?.outcome ?? result?.status ?? 'done');
    } catch (err) {
      if (err instanceof WorkflowFailedError) return `failed:${failureType(err)}`;
      throw err;
    }
  });
}

/** Polls `probe` until it returns a value (faults while probing are retried). */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, forMs = 3_600_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}
