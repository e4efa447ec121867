import type { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import { checkConfigInvariants } from './queries/config';

/**
 * The ledger invariants of DESIGN.md §3. Returns one line per violation; an empty
 * list means the books balance. Run after every integration test, demo and bench.
 */
export async function checkInvariants(pool: Pool, options: { temporal?: Client } = {}): Promise<string[]> {
  const violations: string[] = [];

  // 1. Per asset, posted and pending credits equal debits.
  const sums = await pool.query<{ asset: string; posted: string; pending: string }>(
    `SELECT asset, SUM(credits_posted - debits_posted)::text AS posted, SUM(credits_pending - debits_pending)::text AS pending
     FROM accounts GROUP BY asset`,
  );
  for (const r of sums.rows) {
    if (r.posted !== '0') violations.push(`asset ${r.asset}: posted credits − debits = ${r.posted}, expected 0`);
    if (r.pending !== '0') violations.push(`asset ${r.asset}: pending credits − debits = ${r.pending}, expected 0`);
  }

  // 2. No constrained account is overdrawn, holds included.
  const overdrawn = await pool.query<{ id: string }>(
    `SELECT id FROM accounts WHERE debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted`,
  );
  for (const r of overdrawn.rows) violations.push(`account ${r.id} is overdrawn`);

  // Balances agree with the transfers and holds that made them.
  const drift = await pool.query<{ id: string; what: string }>(
    `WITH posted AS (
       SELECT account_id, SUM(debit) AS debits, SUM(credit) AS credits FROM (
         SELECT debit_account_id AS account_id, amount AS debit, 0 AS credit FROM transfers
         UNION ALL SELECT credit_account_id, 0, amount FROM transfers) t GROUP BY account_id),
     pending AS (
       SELECT account_id, SUM(debit) AS debits, SUM(credit) AS credits FROM (
         SELECT debit_account_id AS account_id, amount - captured - released AS debit, 0 AS credit FROM holds WHERE status = 'open'
         UNION ALL SELECT credit_account_id, 0, amount - captured - released FROM holds WHERE status = 'open') h GROUP BY account_id)
     SELECT a.id, CASE
         WHEN a.debits_posted <> COALESCE(p.debits, 0) OR a.credits_posted <> COALESCE(p.credits, 0) THEN 'posted'
         ELSE 'pending' END AS what
     FROM accounts a LEFT JOIN posted p ON p.account_id = a.id LEFT JOIN pending h ON h.account_id = a.id
     WHERE a.debits_posted <> COALESCE(p.debits, 0) OR a.credits_posted <> COALESCE(p.credits, 0)
        OR a.debits_pending <> COALESCE(h.debits, 0) OR a.credits_pending <> COALESCE(h.credits, 0)`,
  );
  for (const r of drift.rows) violations.push(`account ${r.id}: ${r.what} balance differs from its transfers/holds`);

  // 3. Every open hold belongs to a saga that is still running.
  if (options.temporal) {
    const open = await pool.query<{ id: string; workflow_id: string | null }>(
      `SELECT id, workflow_id FROM holds WHERE status = 'open'`,
    );
    for (const h of open.rows) {
      if (!h.workflow_id) {
        violations.push(`hold ${h.id} is open and belongs to no saga`);
        continue;
      }
      const status = await options.temporal.workflow
        .getHandle(h.workflow_id)
        .describe()
        .then((d) => d.status.name)
        .catch(() => 'NOT_FOUND');
      if (status !== 'RUNNING') violations.push(`hold ${h.id} is open but its saga ${h.workflow_id} is ${status}`);
    }
  }

  // 4. Each external reference takes effect once: per bank reference, credits less reversals
  // are one for a CREDITED deposit and zero otherwise — whichever workflow made them.
  const credits = await pool.query<{ id: string; bank_reference: string; status: string; n: string }>(
    `WITH c AS (SELECT substring(step FROM 16) AS ref, COUNT(*) AS n FROM transfers WHERE step LIKE 'deposit-credit:%' GROUP BY 1),
          r AS (SELECT substring(step FROM 18) AS ref, COUNT(*) AS n FROM transfers WHERE step LIKE 'deposit-reversal:%' GROUP BY 1)
     SELECT d.id, d.bank_reference, d.status, (COALESCE(c.n, 0) - COALESCE(r.n, 0))::text AS n
     FROM deposits d LEFT JOIN c ON c.ref = d.bank_reference LEFT JOIN r ON r.ref = d.bank_reference
     WHERE COALESCE(c.n, 0) - COALESCE(r.n, 0) <> CASE WHEN d.status = 'CREDITED' THEN 1 ELSE 0 END`,
  );
  for (const r of credits.rows) {
    const expected = r.status === 'CREDITED' ? '1' : '0';
    if (r.n !== expected) {
      violations.push(`deposit ${r.id} (${r.bank_reference}, ${r.status}) has ${r.n} standing credits, expected ${expected}`);
    }
  }

  // 5. Config transactions applied in acceptance order, none lost or applied twice.
  violations.push(...(await checkConfigInvariants(pool)));

  return violations;
}
