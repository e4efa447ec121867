import type { Pool } from 'pg';
import type { Client } from '@temporalio/client';
import { formatAmount } from '../domain/money';
import { checkConfigInvariants } from './queries/config';

/** What a check may use: Temporal only when given (the open-hold check needs it). */
export interface InvariantOptions {
  temporal?: Client;
  /** A prepared (two-phase) transaction older than this is a violation. Default 60 s. */
  preparedTimeoutMs?: number;
  /** More checks, e.g. another area's `check<Area>Invariants(pool)`; each returns its violation lines. */
  extraChecks?: ReadonlyArray<InvariantCheck>;
}

/** One check: violation lines (empty when it holds), naming the ids and amounts involved. */
export type InvariantCheck = (pool: Pool, options: InvariantOptions, amounts: Amounts) => Promise<string[]>;

export interface InvariantReport {
  violations: string[];
  /** Checks that could not run, and why (e.g. no Temporal to ask about open holds). */
  skipped: string[];
}

export const DEFAULT_PREPARED_TIMEOUT_MS = 60_000;

/** Formats minor units as `250.00 USD` with the asset's scale (raw units for an unknown asset). */
export type Amounts = (minor: string | bigint, asset: string) => string;

async function loadAmounts(pool: Pool): Promise<Amounts> {
  const { rows } = await pool.query<{ code: string; scale: number }>('SELECT code, scale FROM assets');
  const scales = new Map(rows.map((r) => [r.code, r.scale]));
  return (minor, asset) => {
    const scale = scales.get(asset);
    const value = typeof minor === 'bigint' ? minor : BigInt(minor);
    return scale === undefined ? `${value} minor units of ${asset}` : `${formatAmount(value, scale)} ${asset}`;
  };
}

/** §3.1: per asset, posted and pending credits equal debits. */
export const checkAssetsBalance: InvariantCheck = async (pool, _o, amount) => {
  const { rows } = await pool.query<{ asset: string; posted: string; pending: string }>(
    `SELECT asset, SUM(credits_posted - debits_posted)::text AS posted, SUM(credits_pending - debits_pending)::text AS pending
     FROM accounts GROUP BY asset ORDER BY asset`,
  );
  const out: string[] = [];
  for (const r of rows) {
    if (r.posted !== '0') out.push(`asset ${r.asset}: posted credits − debits = ${amount(r.posted, r.asset)}, expected 0`);
    if (r.pending !== '0') out.push(`asset ${r.asset}: pending credits − debits = ${amount(r.pending, r.asset)}, expected 0`);
  }
  return out;
};

/** §3.2: no constrained account is overdrawn, holds included. */
export const checkNoOverdraft: InvariantCheck = async (pool, _o, amount) => {
  const { rows } = await pool.query<{ id: string; asset: string; debits: string; credits: string }>(
    `SELECT id, asset, (debits_pending + debits_posted)::text AS debits, credits_posted::text AS credits FROM accounts
     WHERE debits_must_not_exceed_credits AND debits_pending + debits_posted > credits_posted ORDER BY id`,
  );
  return rows.map(
    (r) =>
      `account ${r.id} is overdrawn: debits (posted + pending) ${amount(r.debits, r.asset)} exceed credits ${amount(r.credits, r.asset)}`,
  );
};

const BALANCE_COLUMNS = ['debits_posted', 'credits_posted', 'debits_pending', 'credits_pending'] as const;

/** Cached balances equal a fold over all transfers (posted) and open holds' remainders (pending). */
export const checkBalancesFold: InvariantCheck = async (pool, _o, amount) => {
  const { rows } = await pool.query<
    Record<(typeof BALANCE_COLUMNS)[number] | `fold_${(typeof BALANCE_COLUMNS)[number]}`, string> & { id: string; asset: string }
  >(
    `WITH posted AS (
       SELECT account_id, SUM(debit) AS debits, SUM(credit) AS credits FROM (
         SELECT debit_account_id AS account_id, amount AS debit, 0 AS credit FROM transfers
         UNION ALL SELECT credit_account_id, 0, amount FROM transfers) t GROUP BY account_id),
     pending AS (
       SELECT account_id, SUM(debit) AS debits, SUM(credit) AS credits FROM (
         SELECT debit_account_id AS account_id, amount - captured - released AS debit, 0 AS credit FROM holds WHERE status = 'open'
         UNION ALL SELECT credit_account_id, 0, amount - captured - released FROM holds WHERE status = 'open') h GROUP BY account_id),
     folded AS (
       SELECT a.id, a.asset, a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending,
              COALESCE(p.debits, 0) AS fold_debits_posted, COALESCE(p.credits, 0) AS fold_credits_posted,
              COALESCE(h.debits, 0) AS fold_debits_pending, COALESCE(h.credits, 0) AS fold_credits_pending
       FROM accounts a LEFT JOIN posted p ON p.account_id = a.id LEFT JOIN pending h ON h.account_id = a.id)
     SELECT id, asset, debits_posted::text, credits_posted::text, debits_pending::text, credits_pending::text,
            fold_debits_posted::text, fold_credits_posted::text, fold_debits_pending::text, fold_credits_pending::text
     FROM folded
     WHERE debits_posted <> fold_debits_posted OR credits_posted <> fold_credits_posted
        OR debits_pending <> fold_debits_pending OR credits_pending <> fold_credits_pending
     ORDER BY id`,
  );
  const out: string[] = [];
  for (const r of rows) {
    for (const column of BALANCE_COLUMNS) {
      const fold = r[`fold_${column}`];
      if (r[column] !== fold) {
        const source = column.endsWith('posted') ? 'its transfers' : 'its open holds';
        out.push(`account ${r.id}: ${column} is ${amount(r[column], r.asset)} but ${source} sum to ${amount(fold, r.asset)}`);
      }
    }
  }
  return out;
};

/** Every hold is open, captured or released, never beyond its amount, its captures what it says. */
export const checkHolds: InvariantCheck = async (pool, _o, amount) => {
  const { rows } = await pool.query<{
    id: string;
    asset: string;
    status: string;
    amount: string;
    captured: string;
    released: string;
    capture_sum: string;
    workflow_id: string | null;
  }>(
    `WITH c AS (SELECT hold_id, SUM(amount) AS total FROM transfers WHERE hold_id IS NOT NULL GROUP BY hold_id)
     SELECT h.id, h.asset, h.status, h.amount::text, h.captured::text, h.released::text,
            COALESCE(c.total, 0)::text AS capture_sum, h.workflow_id
     FROM holds h LEFT JOIN c ON c.hold_id = h.id
     WHERE h.status NOT IN ('open', 'captured', 'released')
        OR h.captured < 0 OR h.released < 0 OR h.captured + h.released > h.amount
        OR (h.status = 'open') <> (h.captured + h.released < h.amount)
        OR (h.status = 'captured' AND h.released <> 0)
        OR (h.status = 'released' AND h.released = 0)
        OR COALESCE(c.total, 0) <> h.captured
     ORDER BY h.id`,
  );
  const out: string[] = [];
  for (const h of rows) {
    const of = `hold ${h.id}${h.workflow_id ? ` (saga ${h.workflow_id})` : ''}`;
    const amt = (v: string) => amount(v, h.asset);
    if (!['open', 'captured', 'released'].includes(h.status)) {
      out.push(`${of} has status "${h.status}", expected open, captured or released`);
    }
    const used = BigInt(h.captured) + BigInt(h.released);
    if (used > BigInt(h.amount)) {
      out.push(`${of}: captured ${amt(h.captured)} + released ${amt(h.released)} exceed its amount ${amt(h.amount)}`);
    }
    if (BigInt(h.capture_sum) > BigInt(h.amount)) {
      out.push(`${of}: its capture transfers sum to ${amt(h.capture_sum)}, beyond its amount ${amt(h.amount)}`);
    } else if (h.capture_sum !== h.captured) {
      out.push(`${of}: captured says ${amt(h.captured)} but its capture transfers sum to ${amt(h.capture_sum)}`);
    }
    const statusFits =
      h.status === 'open'
        ? used < BigInt(h.amount)
        : h.status === 'captured'
          ? used === BigInt(h.amount) && h.released === '0'
          : h.status === 'released'
            ? used === BigInt(h.amount) && h.released !== '0'
            : true;
    if (!statusFits && used <= BigInt(h.amount)) {
      out.push(`${of} is ${h.status} with ${amt(h.captured)} captured and ${amt(h.released)} released of ${amt(h.amount)}`);
    }
  }
  return out;
};

/** §3.3: every open hold belongs to a saga that is still running (asked of Temporal). */
export const checkOpenHoldsHaveSagas: InvariantCheck = async (pool, options, amount) => {
  const temporal = options.temporal;
  if (!temporal) return [];
  const { rows } = await pool.query<{ id: string; workflow_id: string | null; asset: string; remaining: string }>(
    `SELECT id, workflow_id, asset, (amount - captured - released)::text AS remaining FROM holds WHERE status = 'open' ORDER BY id`,
  );
  const ids = [...new Set(rows.map((h) => h.workflow_id).filter((w): w is string => w !== null))];
  const statuses = new Map<string, string>();
  // A few describes at a time: thousands of open holds must not open thousands of calls at once.
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(
      ids.slice(i, i + 20).map(async (id) => {
        const status = await temporal.workflow
          .getHandle(id)
          .describe()
          .then((d) => d.status.name)
          .catch(() => 'NOT_FOUND');
        statuses.set(id, status);
      }),
    );
  }
  const out: string[] = [];
  for (const h of rows) {
    const what = `hold ${h.id} (${amount(h.remaining, h.asset)} open)`;
    if (!h.workflow_id) out.push(`${what} belongs to no saga`);
    else if (statuses.get(h.workflow_id) !== 'RUNNING') {
      out.push(`${what} is open but its saga ${h.workflow_id} is ${statuses.get(h.workflow_id) ?? 'NOT_FOUND'}`);
    }
  }
  return out;
};

/**
 * §3.4 for deposits: per bank reference, credits less reversals are one for a CREDITED
 * deposit and zero otherwise — whichever workflow made them.
 */
export const checkDepositsOnce: InvariantCheck = async (pool) => {
  const { rows } = await pool.query<{ id: string; bank_reference: string; status: string; n: string }>(
    `WITH c AS (SELECT substring(step FROM 16) AS ref, COUNT(*) AS n FROM transfers WHERE step LIKE 'deposit-credit:%' GROUP BY 1),
          r AS (SELECT substring(step FROM 18) AS ref, COUNT(*) AS n FROM transfers WHERE step LIKE 'deposit-reversal:%' GROUP BY 1)
     SELECT d.id, d.bank_reference, d.status, (COALESCE(c.n, 0) - COALESCE(r.n, 0))::text AS n
     FROM deposits d LEFT JOIN c ON c.ref = d.bank_reference LEFT JOIN r ON r.ref = d.bank_reference
     WHERE COALESCE(c.n, 0) - COALESCE(r.n, 0) <> CASE WHEN d.status = 'CREDITED' THEN 1 ELSE 0 END
     ORDER BY d.id`,
  );
  return rows.map((r) => {
    const expected = r.status === 'CREDITED' ? '1' : '0';
    return `deposit ${r.id} (${r.bank_reference}, ${r.status}) has ${r.n} standing credits, expected ${expected}`;
  });
};

/** §3.5: config transactions applied in acceptance order, none lost or applied twice. */
export const checkConfigOrder: InvariantCheck = (pool) => checkConfigInvariants(pool);

/** §3.7: no prepared (two-phase) transaction of this database outlives its timeout. */
export const checkPreparedTransactions: InvariantCheck = async (pool, options) => {
  const timeoutMs = options.preparedTimeoutMs ?? DEFAULT_PREPARED_TIMEOUT_MS;
  const { rows } = await pool.query<{ gid: string; age_ms: string; database: string }>(
    `SELECT gid, database, floor(extract(epoch FROM now() - prepared) * 1000)::bigint::text AS age_ms
     FROM pg_prepared_xacts WHERE database = current_database() AND prepared < now() - $1 * interval '1 millisecond'
     ORDER BY prepared`,
    [timeoutMs],
  );
  return rows.map(
    (r) =>
      `prepared transaction "${r.gid}" in database ${r.database} is ${Math.round(Number(r.age_ms) / 1000)} s old, ` +
      `beyond its ${Math.round(timeoutMs / 1000)} s timeout`,
  );
};

/** The checks every run makes, in order; `extraChecks` come after them. */
export const LEDGER_CHECKS: ReadonlyArray<InvariantCheck> = [
  checkAssetsBalance,
  checkNoOverdraft,
  checkBalancesFold,
  checkHolds,
  checkOpenHoldsHaveSagas,
  checkDepositsOnce,
  checkConfigOrder,
  checkPreparedTransactions,
];

/** Every invariant, with the checks that could not run said so. */
export async function runInvariantChecks(pool: Pool, options: InvariantOptions = {}): Promise<InvariantReport> {
  const amounts = await loadAmounts(pool);
  const violations: string[] = [];
  for (const check of [...LEDGER_CHECKS, ...(options.extraChecks ?? [])]) {
    violations.push(...(await check(pool, options, amounts)));
  }
  const skipped = options.temporal ? [] : ['every open hold belongs to a running saga (needs Temporal: set TEMPORAL_ADDRESS)'];
  return { violations, skipped };
}

/**
 * The ledger invariants of DESIGN.md §3. Returns one line per violation; an empty
 * list means the books balance. Run after every integration test, demo and bench.
 */
export async function checkInvariants(pool: Pool, options: InvariantOptions = {}): Promise<string[]> {
  return (await runInvariantChecks(pool, options)).violations;
}
