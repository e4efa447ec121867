import { ChainRejectedError, type ChainGateway, type ChainTxStatus } from '../chain/gateway';
import { DomainError, validationError } from '../domain/errors';
import { uuid } from '../domain/schemas';
import { captureIdFor, transferIdFor } from '../domain/ids';
import { withdrawalCaptureKey } from '../domain/withdrawal';
import { captureHold, postTransfer } from '../db/ledger';
import { findHouseAccount } from '../db/queries/accounts';
import { findWithdrawal, lockWithdrawal, updateWithdrawal } from '../db/queries/withdrawals';
import { withTransaction } from '../db/transaction';
import type { ActivityDeps } from './deps';
import { currentScope, toActivityError, transactional } from './boundary';

/**
 * The withdrawal id in its canonical form (trimmed, lower case): the ledger compares UUIDs
 * by value, but the chain keys by text, so an upper-case id from a starter would poll,
 * abandon or fence an id the chain never saw.
 */
export function canonicalWithdrawalId(id: unknown): string {
  const parsed = uuid.safeParse(id);
  if (!parsed.success) throw validationError(`withdrawalId: ${JSON.stringify(id)} must be a UUID`, { field: 'withdrawalId' });
  return parsed.data;
}

export function requireChain(deps: ActivityDeps): ChainGateway {
  if (!deps.chain) throw new Error('no chain gateway configured for this worker (set CHAIN_GATEWAY_URL)');
  return deps.chain;
}

export interface ChainProgress {
  state: ChainTxStatus['state'] | 'unknown';
  txId?: string;
  confirmations: number;
}

export function createWithdrawalChainActivities(deps: ActivityDeps) {
  /** Records what the chain said about a withdrawal on its row (status, tx id, confirmations). */
  const record = (name: string, withdrawalId: string, s: ChainTxStatus, status?: 'BROADCAST') =>
    withTransaction(deps.pool, name, async (tx) => {
      const row = await lockWithdrawal(tx, withdrawalId);
      if (row && (row.status === 'HELD' || row.status === 'BROADCAST')) {
        await updateWithdrawal(tx, withdrawalId, { status, chainTxId: s.txId, confirmations: s.confirmations });
      }
    });

  return {
    /**
     * Sends the withdrawal to the chain, idempotent by withdrawal id: a retry after a lost
     * answer finds the first transaction. A released withdrawal is never sent.
     */
    broadcastWithdrawal: async (i: { withdrawalId: string }): Promise<ChainProgress> => {
      const scope = currentScope(deps, 'broadcastWithdrawal');
      try {
        const withdrawalId = canonicalWithdrawalId(i.withdrawalId);
        const row = await findWithdrawal(deps.pool, withdrawalId);
        if (!row) throw new DomainError('NotFound', `withdrawal ${withdrawalId} has no hold`);
        if (row.status === 'RELEASED') {
          throw new DomainError('InvalidState', `withdrawal ${withdrawalId} was released (${row.reason ?? ''}); nothing is sent`);
        }
        const sent = await requireChain(deps)
          .broadcast({ withdrawalId: row.id, asset: row.asset, address: row.address, amount: row.amount })
          .catch((err: unknown) => {
            if (err instanceof ChainRejectedError) throw new DomainError('ChainRejected', err.message, { withdrawalId: row.id });
            throw err;
          });
        if (sent.state === 'abandoned') {
          throw new DomainError('ChainDropped', `withdrawal ${row.id} was abandoned on the chain; nothing is sent`);
        }
        await record('broadcastWithdrawal', row.id, sent, 'BROADCAST');
        return { state: sent.state, txId: sent.txId, confirmations: sent.confirmations };
      } catch (err) {
        scope.logger.warn({ err }, 'broadcastWithdrawal failed');
        throw toActivityError(err);
      }
    },

    /** Asks the chain how deep the withdrawal's transaction is, and records it. */
    withdrawalConfirmations: async (i: { withdrawalId: string }): Promise<ChainProgress> => {
      let withdrawalId: string;
      try {
        withdrawalId = canonicalWithdrawalId(i.withdrawalId);
      } catch (err) {
        throw toActivityError(err);
      }
      const s = await requireChain(deps).status(withdrawalId);
      if (!s) return { state: 'unknown', confirmations: 0 };
      await record('withdrawalConfirmations', withdrawalId, s);
      return { state: s.state, txId: s.txId, confirmations: s.confirmations };
    },

    /** Captures the hold into escrow and pays the amount to the external chain account and the fee to fees, atomically. */
    completeWithdrawal: transactional(
      deps,
      'completeWithdrawal',
      async (i: { withdrawalId: string; confirmations: number }, tx, scope): Promise<{ captureId: string }> => {
        const withdrawalId = canonicalWithdrawalId(i.withdrawalId);
        const row = await lockWithdrawal(tx, withdrawalId);
        if (!row) throw new DomainError('NotFound', `withdrawal ${withdrawalId} does not exist`);
        const key = withdrawalCaptureKey(row.workflow_id);
        if (row.status === 'COMPLETED') return { captureId: captureIdFor(key) };
        if (row.status !== 'BROADCAST') {
          throw new DomainError('InvalidState', `withdrawal ${row.id} is ${row.status} and cannot be completed`);
        }
        const escrow = await findHouseAccount(tx, row.asset, 'escrow');
        const chain = await findHouseAccount(tx, row.asset, 'external_chain');
        const fees = await findHouseAccount(tx, row.asset, 'fees');
        if (!escrow || !chain || !fees) throw new Error(`missing house accounts for ${row.asset}`);
        const amount = BigInt(row.amount);
        const fee = BigInt(row.fee);
        const base = { workflowId: scope.workflowId, asset: row.asset };
        await captureHold(tx, { transferId: captureIdFor(key), holdId: row.hold_id, amount: amount + fee, ...base, step: key });
        await postTransfer(tx, {
          ...base,
          id: transferIdFor(`${key}:chain`),
          debitAccountId: escrow.id,
          creditAccountId: chain.id,
          amount,
          step: `withdrawal-chain:${row.id}`,
        });
        if (fee > 0n) {
          await postTransfer(tx, {
            ...base,
            id: transferIdFor(`${key}:fee`),
            debitAccountId: escrow.id,
            creditAccountId: fees.id,
            amount: fee,
            step: `withdrawal-fee:${row.id}`,
          });
        }
        await updateWithdrawal(tx, row.id, { status: 'COMPLETED', confirmations: i.confirmations, reason: null });
        return { captureId: captureIdFor(key) };
      },
    ),
  };
}
