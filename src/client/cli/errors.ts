import { ServiceError, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  ApplicationFailure,
  CancelledFailure,
  NamespaceNotFoundError,
  TerminatedFailure,
  TimeoutFailure,
} from '@temporalio/common';
import { CommanderError } from 'commander';
import { DomainError } from '../../domain/errors';
import { ConfigError } from '../../config';
import { NoWorkerError } from '../sagas';
import { CliError, EXIT, badInput, failed, unreachable } from './printer';
import { noWorkerHint } from './wait';

/** What the error mapping needs to know about where the CLI points. */
export interface Where {
  temporalAddress?: string;
  namespace: string;
  databaseWhere: string;
}

/** Domain errors that say the input itself was wrong (exit 2); the rest are failed operations. */
const BAD_INPUT_TYPES = new Set(['ValidationError', 'NotFound', 'IdempotencyConflict']);

export function describeDatabase(url: string | undefined): string {
  if (!url) return 'the database';
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the database in DATABASE_URL';
  }
}

const domain = (type: string, message: string): CliError =>
  BAD_INPUT_TYPES.has(type) ? badInput(type, message) : failed(type, message);

/** The first ApplicationFailure in a cause chain: the domain error a workflow or update failed with. */
function applicationFailure(err: unknown): ApplicationFailure | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof ApplicationFailure) return e;
  }
  return undefined;
}

const PG_UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET', '57P03']);

/** Turns anything a command throws into one worded error; never shows an SDK class name. */
export function toCliError(err: unknown, where?: Where): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof DomainError) return domain(err.type, err.message);
  if (err instanceof ConfigError) return badInput('ConfigError', err.message.replace(/\n\s*/g, ' '));
  if (err instanceof CommanderError) return badInput('UsageError', err.message.replace(/^error: /, ''));

  if (err instanceof WorkflowFailedError || err instanceof WorkflowUpdateFailedError) {
    const app = applicationFailure(err);
    if (app) return domain(app.type ?? 'Failed', app.message);
    if (err.cause instanceof TerminatedFailure) return failed('Terminated', 'the saga was terminated by an operator');
    if (err.cause instanceof CancelledFailure) return failed('Cancelled', 'the saga was cancelled');
    if (err.cause instanceof TimeoutFailure) return failed('Timeout', 'the saga ran out of time');
    return failed('Failed', err.cause?.message ?? err.message);
  }
  const app = applicationFailure(err);
  if (app) return domain(app.type ?? 'Failed', app.message);

  if (err instanceof NamespaceNotFoundError || (err instanceof ServiceError && (err.cause as { code?: number })?.code === 5)) {
    return badInput(
      'ConfigError',
      `namespace ${where?.namespace ?? ''} does not exist on Temporal at ${where?.temporalAddress ?? ''}`,
      `create it with: temporal operator namespace create ${where?.namespace ?? ''}, or fix TEMPORAL_NAMESPACE`,
    );
  }
  if (err instanceof NoWorkerError) {
    const [what, hint] = noWorkerHint(err.taskQueue).split(' — ');
    return failed('NoWorker', what ?? err.message, hint);
  }
  if (err instanceof WorkflowNotFoundError && /already completed/i.test(err.message)) {
    return failed('InvalidState', `saga ${err.workflowId} has already finished`, `see: txmgr saga show ${err.workflowId}`);
  }
  if (err instanceof WorkflowNotFoundError) {
    return badInput('NotFound', `no saga with workflow id ${err.workflowId}`, 'list deposits with: txmgr deposit list');
  }
  if (err instanceof ServiceError) {
    const code = (err.cause as { code?: number } | undefined)?.code;
    if (code === 14 || code === 4) {
      return unreachable(
        `cannot reach Temporal at ${where?.temporalAddress ?? 'TEMPORAL_ADDRESS'}`,
        'is the server still running?',
      );
    }
    return failed('TemporalError', err.cause?.message ?? err.message);
  }

  const pg = err as { code?: string; message?: string };
  const msg = pg.message ?? String(err);
  const db = where?.databaseWhere ?? 'the database';
  if ((pg.code && PG_UNREACHABLE.has(pg.code)) || /timeout|terminated unexpectedly/i.test(msg)) {
    return unreachable(`cannot reach PostgreSQL at ${db}`, 'start one with npm run demo -- --keep, or fix DATABASE_URL');
  }
  if (pg.code === '3D000') return badInput('ConfigError', `database ${db} does not exist`, 'create it, then run txmgr migrate');
  if (pg.code === '28P01' || pg.code === '28000') {
    return badInput('ConfigError', `PostgreSQL at ${db} refused the credentials in DATABASE_URL`, 'fix the user or password');
  }
  if (pg.code === '42P01' || pg.code === '42703' || pg.code === '42883') {
    return badInput('SchemaMissing', `database ${db} does not have txmgr's current schema`, 'run: txmgr migrate');
  }
  if (pg.code && /^[0-9A-Z]{5}$/.test(pg.code)) return failed('DatabaseError', msg);
  return new CliError('Failed', msg, undefined, EXIT.failed);
}
