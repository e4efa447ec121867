import type { Pool, PoolClient } from 'pg';
import { DomainError } from '../../domain/errors';
import type { Operation, OperationOutcome, OperationType, Resource } from '../../domain/operations';
import { requestHash } from '../../domain/tx-hash';
import { opIdFor } from '../../domain/tx-ids';
import { setFrozen, undoFrozen } from './account';
import { capture, hold, release, transfer, undoLedger } from './ledger';
import type { OperationContext, OperationEffect } from './types';

export type { OperationContext } from './types';

/**
 * Applies and undoes the transaction core's operations, journalled in tx_operations in the
 * same database transaction: a retry of an applied operation returns what it did; an undo
 * that finds nothing leaves a 'fenced' row, so a late attempt of the operation applies nothing.
 */

function apply(client: PoolClient, ctx: OperationContext, op: Operation): Promise<OperationEffect> {
  switch (op.type) {
    case 'ledger.transfer':
      return transfer(client, ctx, op.params);
    case 'ledger.hold':
      return hold(client, ctx, op.params);
    case 'ledger.capture':
      return capture(client, ctx, op.params);
    case 'ledger.release':
      return release(client, ctx, op.params);
    case 'account.freeze':
      return setFrozen(client, ctx, op.params, true);
    case 'account.unfreeze':
      return setFrozen(client, ctx, op.params, false);
  }
}

interface JournalRow {
  state: 'applied' | 'undone' | 'fenced';
  result: { ref: string; detail: string; request?: string } | null;
  undo: unknown;
}

async function lockJournal(client: PoolClient, opId: string): Promise<JournalRow | undefined> {
  await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 1))', [opId]);
  const { rows } = await client.query<JournalRow>('SELECT state, result, undo FROM tx_operations WHERE op_id = $1', [opId]);
  return rows[0];
}

const base = (ctx: OperationContext, op: Operation) => ({ position: ctx.position, type: op.type, resource: op.resource });

export async function applyOperation(client: PoolClient, ctx: OperationContext, op: Operation): Promise<OperationOutcome> {
  const opId = opIdFor(ctx.txId, ctx.position);
  const existing = await lockJournal(client, opId);
  const request = requestHash({ mode: 'atomic', operations: [op] });
  if (existing?.result?.request && existing.result.request !== request) {
    throw new DomainError(
      'IdempotencyConflict',
      `operation ${ctx.position} of transaction ${ctx.txId} was already applied with different parameters; a transaction id may be reused only for the identical request`,
      { position: ctx.position },
    );
  }
  if (existing?.state === 'applied')
    return { ...base(ctx, op), status: 'applied', ref: existing.result?.ref, detail: existing.result?.detail };
  if (existing) {
    throw new DomainError(
      'InvalidState',
      `operation ${ctx.position} of transaction ${ctx.txId} was already undone; this late attempt applies nothing`,
      { position: ctx.position },
    );
  }
  const effect = await apply(client, ctx, op);
  const result = { ref: effect.ref, detail: effect.detail };
  await client.query(
    `INSERT INTO tx_operations (op_id, transaction_id, position, type, state, result, undo, workflow_id)
     VALUES ($1, $2, $3, $4, 'applied', $5, $6, $7)`,
    [
      opId,
      ctx.txId,
      ctx.position,
      op.type,
      JSON.stringify({ ...result, request }),
      JSON.stringify(effect.undo),
      ctx.workflowId ?? null,
    ],
  );
  return { ...base(ctx, op), status: 'applied', ...result };
}

/** The inverse: undoes an applied operation, fences one that never ran; repeatable. */
export async function undoOperation(client: PoolClient, ctx: OperationContext, op: Operation): Promise<OperationOutcome> {
  const opId = opIdFor(ctx.txId, ctx.position);
  const existing = await lockJournal(client, opId);
  if (!existing) {
    await client.query(
      `INSERT INTO tx_operations (op_id, transaction_id, position, type, state, workflow_id) VALUES ($1, $2, $3, $4, 'fenced', $5)`,
      [opId, ctx.txId, ctx.position, op.type, ctx.workflowId ?? null],
    );
    return { ...base(ctx, op), status: 'not applied', detail: 'never applied; a late attempt is fenced off' };
  }
  if (existing.state !== 'applied') return { ...base(ctx, op), status: existing.state === 'undone' ? 'undone' : 'not applied' };
  const detail =
    op.type === 'account.freeze' || op.type === 'account.unfreeze'
      ? await undoFrozen(client, ctx, existing.undo)
      : await undoLedger(client, ctx, existing.undo);
  await client.query(`UPDATE tx_operations SET state = 'undone', updated_at = now() WHERE op_id = $1`, [opId]);
  return { ...base(ctx, op), status: 'undone', ref: existing.result?.ref, detail };
}

/**
 * What the journal of one database says a transaction applied there: after COMMIT PREPARED,
 * the outcomes of a participant whose prepare answer was lost (its retry found the gid
 * prepared and ran nothing, so it could not say what each operation did).
 */
export async function journalledOutcomes(db: Pool, txId: string, resource: Resource): Promise<OperationOutcome[]> {
  const { rows } = await db.query<{
    position: number;
    type: OperationType;
    state: JournalRow['state'];
    result: JournalRow['result'];
  }>('SELECT position, type, state, result FROM tx_operations WHERE transaction_id = $1 ORDER BY position', [txId]);
  return rows.map((r) => ({
    position: r.position,
    type: r.type,
    resource,
    status: r.state === 'applied' ? 'applied' : 'not applied',
    ref: r.result?.ref,
    detail: r.result?.detail,
  }));
}
