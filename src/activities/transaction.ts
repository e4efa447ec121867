import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Pool, PoolClient } from 'pg';
import { DomainError, validationError } from '../domain/errors';
import {
  parseTransaction,
  resourcesOf,
  type Operation,
  type OperationOutcome,
  type Resource,
  type TransactionInput,
} from '../domain/operations';
import { requestHash } from '../domain/tx-hash';
import { gidKeyFor } from '../domain/tx-ids';
import { applyOperation, journalledOutcomes, undoOperation } from '../db/operations';
import { insertTxTransaction, decideTxTransaction, type TxTransactionRow } from '../db/queries/tx-transactions';
import { resolveInDoubt, type Resolved } from '../db/recovery';
import { withTransaction } from '../db/transaction';
import { commitPrepared, maxPreparedTransactions, prepareTransaction, rollbackPrepared } from '../db/two-phase';
import { currentScope, toActivityError } from './boundary';
import type { ActivityDeps } from './deps';

export interface OperationStep {
  txId: string;
  position: number;
  operation: Operation;
}

export interface Participant {
  txId: string;
  gid: string;
  resource: Resource;
  steps: Array<{ position: number; operation: Operation }>;
}

const parse = (raw: TransactionInput): TransactionInput => parseTransaction(raw);

/**
 * Records the transaction's request under its id (first one wins) in `db`, and refuses a
 * different request under the same id — also one started by another workflow (a raw start,
 * or a retry after Temporal's retention dropped the first run), which the client's
 * one-workflow-per-id check cannot see. An identical request passes: its operations are
 * journalled, so none runs twice.
 */
async function recordRequest(
  db: Pool | PoolClient,
  input: TransactionInput,
  workflowId: string,
  deadlineAt: Date,
): Promise<TxTransactionRow> {
  const row = await insertTxTransaction(db, {
    id: input.id,
    workflowId,
    gidKey: gidKeyFor(workflowId),
    mode: input.mode,
    requestHash: requestHash(input),
    resources: resourcesOf(input.operations),
    deadlineAt,
  });
  if (row.request_hash !== requestHash(input)) {
    throw new DomainError(
      'IdempotencyConflict',
      `transaction ${input.id} was already executed with different operations or mode (workflow ${row.workflow_id}); a transaction id may be reused only for the identical request`,
      { id: input.id },
    );
  }
  return row;
}

const deadlineOf = (input: TransactionInput): Date => new Date(Date.now() + input.timeoutSeconds * 1000);

/** The database of a resource; custody only when the worker was given CUSTODY_DATABASE_URL. */
function poolFor(deps: ActivityDeps, resource: Resource): Pool {
  if (resource === 'ledger') return deps.pool;
  if (deps.custodyPool) return deps.custodyPool;
  throw validationError(
    'resource: custody is not configured on this worker — set CUSTODY_DATABASE_URL (the custody database) and restart it',
    { field: 'resource' },
  );
}

/** Runs `fn` as an activity body: binds the scope and converts errors at the edge. */
async function edge<T>(deps: ActivityDeps, name: string, fn: (scope: ReturnType<typeof currentScope>) => Promise<T>): Promise<T> {
  const scope = currentScope(deps, name);
  try {
    return await fn(scope);
  } catch (err) {
    scope.logger.warn({ err }, `${name} failed`);
    throw toActivityError(err);
  }
}

export function createTransactionActivities(deps: ActivityDeps) {
  return {
    /** saga: checks a request (the client did too; a raw start may not have) and records it under its id. */
    async validateTransaction(raw: TransactionInput): Promise<{ resources: Resource[] }> {
      return edge(deps, 'validateTransaction', async (scope) => {
        const input = parse(raw);
        const resources = resourcesOf(input.operations);
        resources.forEach((r) => poolFor(deps, r));
        await recordRequest(deps.pool, input, scope.workflowId ?? `direct:${input.id}`, deadlineOf(input));
        return { resources };
      });
    },

    /** atomic: every operation in one database transaction on its one resource. */
    async runAtomic(raw: TransactionInput): Promise<OperationOutcome[]> {
      return edge(deps, 'runAtomic', async (scope) => {
        const input = parse(raw);
        const resource = resourcesOf(input.operations)[0] as Resource;
        return withTransaction(
          poolFor(deps, resource),
          'runAtomic',
          async (tx) => {
            await recordRequest(tx, input, scope.workflowId ?? `direct:${input.id}`, deadlineOf(input));
            const outcomes: OperationOutcome[] = [];
            for (const [position, op] of input.operations.entries()) {
              outcomes.push(await applyOperation(tx, { txId: input.id, position, workflowId: scope.workflowId }, op));
            }
            return outcomes;
          },
          { workflowId: scope.workflowId, activity: scope.activity, attempt: scope.attempt },
        );
      });
    },

    /** saga: one operation in its own database transaction. */
    async applyTxOperation(s: OperationStep): Promise<OperationOutcome> {
      return edge(deps, 'applyTxOperation', (scope) =>
        withTransaction(
          poolFor(deps, s.operation.resource),
          'applyTxOperation',
          (tx) => applyOperation(tx, { txId: s.txId, position: s.position, workflowId: scope.workflowId }, s.operation),
          { workflowId: scope.workflowId, activity: scope.activity, attempt: scope.attempt },
        ),
      );
    },

    /** saga: the inverse of one operation; a no-op (and a fence) when it never happened. */
    async undoTxOperation(s: OperationStep): Promise<OperationOutcome> {
      return edge(deps, 'undoTxOperation', (scope) =>
        withTransaction(
          poolFor(deps, s.operation.resource),
          'undoTxOperation',
          (tx) => undoOperation(tx, { txId: s.txId, position: s.position, workflowId: scope.workflowId }, s.operation),
          { workflowId: scope.workflowId, activity: scope.activity, attempt: scope.attempt },
        ),
      );
    },

    /**
     * 2pc: checks the request and that every participant can prepare transactions, then records
     * the transaction (the decision's home) in the ledger database. Returns the gid key.
     */
    async beginTwoPhase(b: {
      input: TransactionInput;
      deadlineAt: string;
    }): Promise<{ gidKey: string; resources: Resource[]; deadlineAt: string }> {
      return edge(deps, 'beginTwoPhase', async (scope) => {
        const input = parse(b.input);
        const workflowId = scope.workflowId ?? `direct:${input.id}`;
        const resources = resourcesOf(input.operations);
        for (const r of resources) {
          if ((await maxPreparedTransactions(poolFor(deps, r))) === 0) {
            throw new DomainError(
              'InvalidState',
              `mode 2pc needs prepared transactions, but max_prepared_transactions is 0 on the ${r} database — set it above 0 in postgresql.conf and restart PostgreSQL, or use mode saga`,
              { resource: r },
            );
          }
        }
        const gidKey = gidKeyFor(workflowId);
        const row = await recordRequest(deps.pool, input, workflowId, new Date(b.deadlineAt));
        // The prepared transactions' gids derive from the workflow: another workflow may not run this id.
        if (row.workflow_id !== workflowId) {
          throw new DomainError(
            'IdempotencyConflict',
            `transaction ${input.id} is already run by workflow ${row.workflow_id}; a 2pc transaction id runs in one workflow only — see txmgr tx show ${input.id}`,
            { id: input.id },
          );
        }
        return { gidKey, resources, deadlineAt: row.deadline_at.toISOString() };
      });
    },

    /** 2pc: one participant runs its operations and PREPARE TRANSACTION. */
    async prepareParticipant(p: Participant): Promise<{ state: 'prepared' | 'committed'; outcomes: OperationOutcome[] }> {
      return edge(deps, 'prepareParticipant', async (scope) => {
        const outcomes: OperationOutcome[] = [];
        const state = await prepareTransaction(poolFor(deps, p.resource), p.gid, p.txId, async (tx) => {
          for (const s of p.steps) {
            outcomes.push(
              await applyOperation(tx, { txId: p.txId, position: s.position, workflowId: scope.workflowId }, s.operation),
            );
          }
        });
        return { state, outcomes };
      });
    },

    /** 2pc: records the decision; the first one recorded (by the workflow or recovery) stands and is returned. */
    async decideTwoPhase(d: { txId: string; decision: 'commit' | 'rollback' }): Promise<'commit' | 'rollback'> {
      return edge(deps, 'decideTwoPhase', async (scope) => {
        const decided = await decideTxTransaction(deps.pool, d.txId, d.decision, scope.workflowId ?? 'direct');
        if (!decided) throw new DomainError('NotFound', `transaction ${d.txId} has no record to decide on`, { id: d.txId });
        return decided;
      });
    },

    /**
     * 2pc: COMMIT PREPARED or ROLLBACK PREPARED on one participant, idempotently. A commit answers
     * what the participant's journal now holds (a retried prepare could not say).
     */
    async finishParticipant(f: {
      txId: string;
      gid: string;
      resource: Resource;
      decision: 'commit' | 'rollback';
    }): Promise<{ state: 'committed' | 'rolled back'; outcomes: OperationOutcome[] }> {
      return edge(deps, 'finishParticipant', async () => {
        const pool = poolFor(deps, f.resource);
        if (f.decision === 'rollback') return { state: await rollbackPrepared(pool, f.gid, f.txId), outcomes: [] };
        const state = await commitPrepared(pool, f.gid);
        return { state, outcomes: await journalledOutcomes(pool, f.txId, f.resource) };
      });
    },

    /** The scheduled in-doubt check: resolves prepared transactions from their decisions (see db/recovery). */
    async recoverInDoubtTransactions(): Promise<Resolved[]> {
      return edge(deps, 'recoverInDoubtTransactions', async () => {
        const client = Context.current().client;
        return resolveInDoubt(
          { ledger: deps.pool, custody: deps.custodyPool },
          {
            isWorkflowRunning: async (workflowId) => {
              try {
                return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
              } catch (err) {
                return err instanceof WorkflowNotFoundError ? false : undefined;
              }
            },
          },
        );
      });
    },
  };
}
