import type { PoolClient } from 'pg';
import { DomainError } from '../domain/errors';
import type { AccountRow } from './queries/accounts';

/**
 * Many posted transfers from one account in a handful of statements (reward batches):
 * the same rules as `postTransfer` — same asset, two different accounts, credit limits —
 * checked for the whole set before anything is written. The caller has locked every
 * account involved (in id order) and owns the transaction.
 */
export interface BatchCredit {
  id: string;
  creditAccountId: string;
  amount: bigint;
  step: string;
}

export async function postTransfersFromOne(
  tx: PoolClient,
  b: { debit: AccountRow; credits: BatchCredit[]; accounts: Map<string, AccountRow>; workflowId?: string },
): Promise<bigint> {
  let total = 0n;
  for (const c of b.credits) {
    const credit = b.accounts.get(c.creditAccountId);
    if (!credit)
      throw new DomainError('NotFound', `account ${c.creditAccountId} does not exist`, { accountId: c.creditAccountId });
    if (credit.id === b.debit.id) throw new DomainError('ValidationError', 'a transfer needs two different accounts');
    if (credit.asset !== b.debit.asset) {
      throw new DomainError('ValidationError', `account ${credit.id} holds ${credit.asset}, not ${b.debit.asset}`, {
        accountId: credit.id,
      });
    }
    if (credit.credits_must_not_exceed_debits) {
      const room = BigInt(credit.debits_posted) - BigInt(credit.credits_posted) - BigInt(credit.credits_pending);
      if (c.amount > room) throw new DomainError('InsufficientFunds', `account ${credit.id} cannot take a credit of ${c.amount}`);
    }
    total += c.amount;
  }
  if (b.debit.debits_must_not_exceed_credits) {
    const available = BigInt(b.debit.credits_posted) - BigInt(b.debit.debits_posted) - BigInt(b.debit.debits_pending);
    if (total > available) {
      throw new DomainError('InsufficientFunds', `account ${b.debit.id} has ${available} minor units available, ${total} needed`);
    }
  }
  const ids = b.credits.map((c) => c.id);
  const amounts = b.credits.map((c) => String(c.amount));
  const targets = b.credits.map((c) => c.creditAccountId);
  const { rowCount } = await tx.query(
    `INSERT INTO transfers (id, debit_account_id, credit_account_id, asset, amount, workflow_id, step)
     SELECT t.id, $1, t.credit, $2, t.amount, $3, t.step
     FROM unnest($4::uuid[], $5::uuid[], $6::numeric[], $7::text[]) AS t (id, credit, amount, step)
     ON CONFLICT DO NOTHING`,
    [b.debit.id, b.debit.asset, b.workflowId ?? null, ids, targets, amounts, b.credits.map((c) => c.step)],
  );
  if (rowCount !== b.credits.length) {
    throw new DomainError('IdempotencyConflict', `${b.credits.length - (rowCount ?? 0)} transfers of this batch already exist`);
  }
  await tx.query('UPDATE accounts SET debits_posted = debits_posted + $2 WHERE id = $1', [b.debit.id, String(total)]);
  await tx.query(
    `UPDATE accounts a SET credits_posted = a.credits_posted + d.amount
     FROM unnest($1::uuid[], $2::numeric[]) AS d (id, amount) WHERE a.id = d.id`,
    [targets, amounts],
  );
  // Each transfer's change-log entry, as postTransfer writes it, stamped by the database-side clock (../changes).
  await tx.query(
    `SELECT txmgr_append_change('transfer', t.id::text, 'posted', txmgr_change_data(to_jsonb(t) - 'created_at'), t.workflow_id,
                                ARRAY['account:' || t.debit_account_id, 'account:' || t.credit_account_id])
       FROM transfers t WHERE t.id = ANY($1::uuid[]) ORDER BY t.id`,
    [ids],
  );
  return total;
}
