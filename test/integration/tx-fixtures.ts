import type { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
import { postTransfer } from '../../src/db/ledger';
import { withTransaction } from '../../src/db/transaction';
import type { TransactionRequest } from '../../src/domain/operations';
import type { Worker } from '@temporalio/worker';
import type { TransactionTarget } from '../../src/client/transactions';
import { createWorker } from '../../src/worker-factory';
import type { TestContext } from '../helpers/context';
import { balances, houseAccount, openUserAccount } from '../helpers/fixtures';

/** A funded user account and the escrow house account in one resource database. */
export interface Side {
  pool: Pool;
  user: string;
  other: string;
  escrow: string;
}

export async function fundedSide(pool: Pool, amount = 1000n): Promise<Side> {
  const user = await openUserAccount(pool);
  const other = await openUserAccount(pool);
  const bank = await houseAccount(pool, 'USD', 'external_bank');
  await withTransaction(pool, 'test-fund', (tx) =>
    postTransfer(tx, { id: randomUUID(), debitAccountId: bank, creditAccountId: user, asset: 'USD', amount }),
  );
  return { pool, user, other, escrow: await houseAccount(pool, 'USD', 'escrow') };
}

/** The standard 4-operation batch on one side: a transfer, then a hold captured in part and released. */
export function sideOps(s: Side, resource: 'ledger' | 'custody', first: number): TransactionRequest['operations'] {
  return [
    {
      type: 'ledger.transfer',
      resource,
      params: { debitAccountId: s.user, creditAccountId: s.other, asset: 'USD', amount: '100' },
    },
    { type: 'ledger.hold', resource, params: { debitAccountId: s.user, creditAccountId: s.escrow, asset: 'USD', amount: '200' } },
    { type: 'ledger.capture', resource, params: { holdOperation: first + 1, amount: '50' } },
    { type: 'ledger.release', resource, params: { holdOperation: first + 1 } },
  ];
}

/** An operation that fails (InsufficientFunds) on `s`, for a failure at a given position. */
export const overdraw = (s: Side, resource: 'ledger' | 'custody') => ({
  type: 'ledger.transfer',
  resource,
  params: { debitAccountId: s.user, creditAccountId: s.other, asset: 'USD', amount: '999999999' },
});

export async function snapshot(s: Side): Promise<string> {
  // Net positions: a compensated saga leaves reversal transfers behind, but the same balances.
  const all = await Promise.all([s.user, s.other, s.escrow].map((id) => balances(s.pool, id)));
  return all.map((b) => `${b.balance}/${b.available}/${b.debitsPending}/${b.creditsPending}`).join(' ');
}

export const availableOf = async (s: Side, id = s.user) => (await balances(s.pool, id)).available;

/**
 * One worker for a whole test file (the transaction tests run many short workflows; a worker
 * per test would cost more than the tests). Its task queue is `shared.taskQueue`.
 */
export function useSharedWorker(ctx: TestContext): { readonly taskQueue: string; target(): TransactionTarget } {
  const state = { taskQueue: '', worker: undefined as Worker | undefined, running: undefined as Promise<void> | undefined };
  beforeAll(async () => {
    state.taskQueue = ctx.taskQueue();
    state.worker = await createWorker({
      connection: ctx.connection,
      namespace: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
      taskQueue: state.taskQueue,
      pool: ctx.pool,
      custodyPool: ctx.custodyPool,
      logger: ctx.logger,
      workflowBundle: ctx.bundle,
      shutdownGraceMs: 2_000,
      maxConcurrentActivities: 24,
    });
    state.running = state.worker.run();
    ctx.onClose(async () => {
      state.worker?.shutdown();
      await state.running;
    });
  });
  return {
    get taskQueue() {
      return state.taskQueue;
    },
    target: () => ({ temporal: ctx.temporal, taskQueue: state.taskQueue }),
  };
}
