import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import {
  Client,
  WithStartWorkflowOperation,
  WorkflowIdConflictPolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { parseConfigTransaction, type ConfigOutcome, type ConfigTransactionRequest } from '../domain/config';
import { DomainError, validationError } from '../domain/errors';
import { NoWorkerError, hasPollers } from './sagas';
import {
  findConfigTransaction,
  listConfigConflicts,
  listConfigTransactions,
  readConfigState,
  type ConfigConflictRow,
  type ConfigTransactionRow,
} from '../db/queries/config';
import {
  applyConfigUpdate,
  CONFIG_SIPHON_WORKFLOW_ID,
  configSiphon,
  shutdownSiphonSignal,
  SIPHON_NOT_ACCEPTING,
  siphonStateQuery,
  submitConfigSignal,
  type ConfigSiphonInput,
  type SiphonStateView,
} from '../workflows';

/** Where the siphon lives. The workflow id defaults to `config-siphon`; tests pass their own. */
export interface SiphonTarget {
  client: Client;
  taskQueue: string;
  workflowId?: string;
  /** Input for a run this call starts (ignored when one is already running). */
  siphonInput?: ConfigSiphonInput;
  /**
   * PostgreSQL, the system of record. With it, `applyConfig` checks the transaction id there
   * before it reports a final refusal (an earlier attempt may have been applied after all).
   */
  pool?: Pool;
}

/** What a caller writes: id and times are filled in when missing. */
export interface ConfigTransactionInput {
  id?: string;
  kind: string;
  payload: unknown;
  source?: string;
  submittedAt?: string;
}

const siphonId = (t: SiphonTarget) => t.workflowId ?? CONFIG_SIPHON_WORKFLOW_ID;

/**
 * Fills in id and submission time and checks the schema, so a bad transaction is
 * refused here, before it reaches Temporal. Throws ValidationError naming the field.
 */
export function prepareConfigTransaction(input: ConfigTransactionInput, source = 'client'): ConfigTransactionRequest {
  const request = { source, submittedAt: new Date().toISOString(), ...input, id: input.id ?? randomUUID() };
  const parsed = parseConfigTransaction(request);
  if (!parsed.ok) {
    // Its message starts with the field ("payload.markets.0.symbol: ...").
    throw validationError(`invalid config transaction: ${parsed.error}`, { field: parsed.error.split(':')[0] });
  }
  return request;
}

/**
 * Fire and forget, with signal-with-start: Temporal records the transaction durably
 * even when no worker runs, and a stopped siphon gets a new run. A reused id with other
 * content is not applied: `configConflicts(pool, { transactionId })` and the siphon's
 * `recent` outcomes (status `conflict`) show it.
 */
export async function submitConfig(target: SiphonTarget, input: ConfigTransactionInput): Promise<{ id: string; runId: string }> {
  const request = prepareConfigTransaction(input);
  const handle = await target.client.workflow.signalWithStart(configSiphon, {
    workflowId: siphonId(target),
    taskQueue: target.taskQueue,
    args: [target.siphonInput ?? {}],
    signal: submitConfigSignal,
    signalArgs: [request],
  });
  return { id: request.id, runId: handle.signaledRunId };
}

/** True for refusals that a later try can get past: the siphon was stopping or changing runs. */
function isTransientRefusal(err: unknown): boolean {
  if (err instanceof WorkflowUpdateFailedError) {
    return err.cause instanceof ApplicationFailure && err.cause.type === SIPHON_NOT_ACCEPTING;
  }
  if (err instanceof WorkflowNotFoundError) return true;
  // The run closed between admitting the update and delivering it (continueAsNew, shutdown).
  const message = err instanceof Error ? err.message : '';
  return /already completed|continued as new|workflow is closing|update was aborted|NOT_FOUND/i.test(message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Submits with update-with-start and waits until the transaction is applied (or
 * failed); returns its outcome. Refusals while the siphon stops or rotates are
 * retried with the same id and the same update id, which the siphon applies at most once.
 *
 * Throws `DomainError('IdempotencyConflict')` when the id was already used for a different
 * kind or payload: nothing is applied, the message names what differs (a change needs a new
 * id). Same id and same content is a duplicate: the first outcome with `duplicate: true`.
 * Throws `DomainError('ValidationError')` for a transaction that fails its schema.
 */
export async function applyConfig(
  target: SiphonTarget,
  input: ConfigTransactionInput,
  options: { retryForMs?: number } = {},
): Promise<ConfigOutcome> {
  const request = prepareConfigTransaction(input);
  // One update id for every attempt: the siphon carries answered ids across runs.
  const updateId = `apply:${request.id}:${randomUUID()}`;
  const deadline = Date.now() + (options.retryForMs ?? 120_000);
  for (let attempt = 0; ; attempt++) {
    try {
      const outcome = await target.client.workflow.executeUpdateWithStart(applyConfigUpdate, {
        args: [request],
        updateId,
        startWorkflowOperation: new WithStartWorkflowOperation(configSiphon, {
          workflowId: siphonId(target),
          taskQueue: target.taskQueue,
          args: [target.siphonInput ?? {}],
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        }),
      });
      return conflictThrown(outcome);
    } catch (err) {
      if (err instanceof DomainError) throw err;
      if (!isTransientRefusal(err) || Date.now() > deadline) {
        // Before saying no for good, ask the system of record: an attempt may have landed.
        const landed =
          isTransientRefusal(err) && target.pool ? await settledOutcome(target.pool, request.id, updateId) : undefined;
        if (landed) return landed;
        throw unwrapRejection(err);
      }
      await sleep(Math.min(50 * 2 ** attempt, 1_000));
    }
  }
}

function conflictThrown(outcome: ConfigOutcome): ConfigOutcome {
  if (outcome.status === 'conflict') throw new DomainError('IdempotencyConflict', outcome.reason, { id: outcome.id });
  return outcome;
}

/** The outcome PostgreSQL holds for this id (waiting a little for a pending row), if any. */
async function settledOutcome(pool: Pool, id: string, updateId: string): Promise<ConfigOutcome | undefined> {
  const until = Date.now() + 30_000;
  for (;;) {
    const row = await findConfigTransaction(pool, id);
    if (!row) return undefined;
    const duplicate = row.ticket !== `update:${updateId}`;
    if (row.status === 'applied')
      return { id, status: 'applied', sequence: row.sequence, configVersion: row.config_version!, duplicate };
    if (row.status === 'failed')
      return { id, status: 'failed', sequence: row.sequence, reason: row.error ?? 'failed', duplicate };
    if (Date.now() > until) return undefined;
    await sleep(250);
  }
}

/** The validator's ApplicationFailure carries the message that names the field; surface it. */
function unwrapRejection(err: unknown): unknown {
  if (
    err instanceof WorkflowUpdateFailedError &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === 'ValidationError'
  ) {
    return validationError(err.cause.message);
  }
  return err;
}

/** The running siphon's state, or undefined when none runs. */
export async function getSiphonState(target: SiphonTarget): Promise<SiphonStateView | undefined> {
  const handle = target.client.workflow.getHandle(siphonId(target));
  try {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') return undefined;
    // A query needs a worker: say so instead of the SDK's "Failed to query Workflow" after a wait.
    if (!(await hasPollers(target.client, description.taskQueue))) throw new NoWorkerError(description.taskQueue);
    return await target.client.withDeadline(Date.now() + 10_000, () => handle.query(siphonStateQuery));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Asks the siphon to stop accepting, drain and complete. A no-op when none runs. */
export async function shutdownSiphon(target: SiphonTarget): Promise<boolean> {
  try {
    await target.client.workflow.getHandle(siphonId(target)).signal(shutdownSiphonSignal);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Applied and failed transactions from PostgreSQL, the system of record, newest first. */
export function configHistory(
  pool: Pool,
  options: { limit?: number; beforeSequence?: number } = {},
): Promise<ConfigTransactionRow[]> {
  return listConfigTransactions(pool, {
    limit: Math.min(Math.max(options.limit ?? 20, 1), 10_000),
    beforeSequence: options.beforeSequence,
  });
}

/**
 * Submissions that reused a transaction id with different content, newest first: how a
 * `submitConfig` (fire and forget) caller finds out that its change was not applied.
 */
export function configConflicts(
  pool: Pool,
  options: { transactionId?: string; limit?: number } = {},
): Promise<ConfigConflictRow[]> {
  return listConfigConflicts(pool, {
    limit: Math.min(Math.max(options.limit ?? 20, 1), 10_000),
    transactionId: options.transactionId,
  });
}

/** Current config version and last sequence, straight from PostgreSQL. */
export async function configPosition(pool: Pool): Promise<{ configVersion: number; lastSequence: number }> {
  const s = await readConfigState(pool);
  return { configVersion: s.version, lastSequence: s.last_sequence };
}

/**
 * Reads a config file's text: a JSON list of transactions, `{ "transactions": [...] }`
 * or a single transaction. Throws ValidationError naming the entry and field.
 */
export function parseConfigFile(text: string, source = 'file'): ConfigTransactionRequest[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw validationError(`config file is not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(data)
    ? data
    : typeof data === 'object' && data !== null && Array.isArray((data as { transactions?: unknown }).transactions)
      ? (data as { transactions: unknown[] }).transactions
      : [data];
  const problems: string[] = [];
  const requests: ConfigTransactionRequest[] = [];
  for (const [i, entry] of list.entries()) {
    try {
      requests.push(prepareConfigTransaction(entry as ConfigTransactionInput, source));
    } catch (err) {
      problems.push(`[${i}] ${(err as Error).message}`);
    }
  }
  if (problems.length) throw validationError(problems.join('\n'));
  return requests;
}

/**
 * Submits a list in order. With updates each one is applied before the next is
 * sent; with signals they are recorded in order and applied later.
 */
export async function applyConfigList(
  target: SiphonTarget,
  transactions: ConfigTransactionInput[],
  options: { mode?: 'update' | 'signal'; onProgress?: (done: number, outcome?: ConfigOutcome) => void } = {},
): Promise<Array<ConfigOutcome | { id: string; status: 'submitted' }>> {
  const results: Array<ConfigOutcome | { id: string; status: 'submitted' }> = [];
  for (const t of transactions) {
    if (options.mode === 'signal') {
      const { id } = await submitConfig(target, t);
      results.push({ id, status: 'submitted' });
      options.onProgress?.(results.length);
    } else {
      const outcome = await applyConfig(target, t);
      results.push(outcome);
      options.onProgress?.(results.length, outcome);
    }
  }
  return results;
}

/** The example config files in the order the demo applies them: markets before what refers to them. */
export const EXAMPLE_CONFIG_FILES = ['markets.json', 'compliance.json', 'withdrawals.json', 'campaigns.json'] as const;

/** Reads examples/config/*.json (ids are fixed, so applying them twice applies them once). */
export function exampleConfigTransactions(
  dir = path.resolve(__dirname, '..', '..', 'examples', 'config'),
): ConfigTransactionRequest[] {
  return EXAMPLE_CONFIG_FILES.flatMap((file) =>
    parseConfigFile(fs.readFileSync(path.join(dir, file), 'utf8'), `example:${file}`),
  );
}
