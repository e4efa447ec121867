import type { Pool } from 'pg';
import { runInvariantChecks, type InvariantCheck } from '../db/invariants';
import { checkCampaignInvariants } from '../db/invariants-campaign';
import { checkTradeInvariants } from '../db/invariants-trade';
import { checkTxcoreInvariants } from '../db/invariants-txcore';
import { checkWithdrawalInvariants } from '../db/invariants-withdrawal';
import type { Driver, SagaRecord } from './driver';
import { FUNDING, WITHDRAWAL_FUNDING, type Accounts } from './setup';

/**
 * What the run asserts once every saga is terminal: the outcome each saga's inputs call for;
 * `txmgr check`'s invariants on both databases; each external id taking effect exactly once
 * (rows and balances); config applied in submission order. Returns one line per violation.
 */
export async function verify(d: Driver, acc: Accounts): Promise<string[]> {
  const v: string[] = [];
  for (const r of d.records) {
    if (r.observed !== r.expected && r.observed !== r.alsoAllowed) {
      v.push(
        `${r.kind} ${r.variant} ${r.externalId} (${r.workflowId}) ended ${r.observed ?? 'never'}, its inputs call for ${r.expected}`,
      );
    }
  }
  const extra: InvariantCheck[] = [
    (p) => checkTradeInvariants(p),
    (p) => checkWithdrawalInvariants(p),
    (p) => checkCampaignInvariants(p),
    (p) => checkTxcoreInvariants(p),
  ];
  const ledger = await runInvariantChecks(d.ledger, { temporal: d.temporal, extraChecks: extra });
  v.push(...ledger.violations.map((x) => `txmgr check (ledger): ${x}`));
  const custody = await runInvariantChecks(d.custody, { temporal: d.temporal, extraChecks: [(p) => checkTxcoreInvariants(p)] });
  v.push(...custody.violations.map((x) => `txmgr check (custody): ${x}`));
  v.push(...(await balancesOnce(d, acc)));
  v.push(...(await rowsOnce(d)));
  v.push(...(await withdrawalsOnChainOnce(d)));
  v.push(...(await configInOrder(d)));
  return v;
}

/** Each account's balance is its funding plus every expected effect exactly once. */
async function balancesOnce(d: Driver, acc: Accounts): Promise<string[]> {
  const start = new Map<string, bigint>();
  const key = (resource: string, id: string) => `${resource}:${id}`;
  for (const id of [...acc.deposit, acc.lockVictim]) start.set(key('ledger', id), 0n);
  for (const id of acc.txLedger) start.set(key('ledger', id), FUNDING.USD!);
  for (const id of acc.campaignOwners) start.set(key('ledger', id), FUNDING.USD!);
  for (const id of acc.txCustody) start.set(key('custody', id), FUNDING.USD!);
  for (const w of acc.withdrawal.values()) start.set(key('ledger', w.accountId), WITHDRAWAL_FUNDING);
  const expected = new Map(start);
  for (const r of d.records) {
    if (r.alsoAllowed && r.observed === r.alsoAllowed) continue; // rolled back: no effect
    for (const e of r.effects ?? []) {
      const k = key(e.resource, e.accountId);
      expected.set(k, (expected.get(k) ?? 0n) + e.delta);
    }
  }
  const out: string[] = [];
  for (const [resource, pool] of [
    ['ledger', d.ledger],
    ['custody', d.custody],
  ] as const) {
    const ids = [...expected.keys()].filter((k) => k.startsWith(`${resource}:`)).map((k) => k.slice(resource.length + 1));
    const { rows } = await pool.query<{ id: string; balance: string; pending: string }>(
      `SELECT id, (credits_posted - debits_posted)::text AS balance, debits_pending::text AS pending
         FROM accounts WHERE id = ANY($1)`,
      [ids],
    );
    for (const row of rows) {
      const want = expected.get(key(resource, row.id))!;
      if (BigInt(row.balance) !== want)
        out.push(`account ${row.id} (${resource}) holds ${row.balance} minor units, its sagas call for exactly ${want}`);
      if (row.pending !== '0') out.push(`account ${row.id} (${resource}) still has ${row.pending} minor units on hold`);
    }
    if (rows.length !== ids.length) out.push(`${ids.length - rows.length} account(s) of the run are missing on ${resource}`);
  }
  return out;
}

async function counts(pool: Pool, sql: string, ids: string[]): Promise<Map<string, number>> {
  const { rows } = await pool.query<{ id: string; n: number }>(sql, [ids]);
  return new Map(rows.map((r) => [r.id, r.n]));
}

/** One row per external id: deposits by bank reference, orders by owner and client order id, transactions, withdrawals. */
async function rowsOnce(d: Driver): Promise<string[]> {
  const out: string[] = [];
  const once = (what: string, r: SagaRecord, n: number | undefined, want: number) => {
    if ((n ?? 0) !== want) out.push(`${what} ${r.externalId} has ${n ?? 0} rows, expected ${want}`);
  };
  const of = (kind: SagaRecord['kind']) => d.records.filter((r) => r.kind === kind);
  const deposits = await counts(
    d.ledger,
    `SELECT bank_reference AS id, count(*)::int AS n FROM deposits WHERE bank_reference = ANY($1) GROUP BY 1`,
    of('deposit').map((r) => r.externalId),
  );
  for (const r of of('deposit')) once('bank reference', r, deposits.get(r.externalId), 1);
  // Each transaction id: its operations journalled as applied once each when it committed, none when it failed.
  const txIds = of('transaction').map((r) => r.externalId);
  const journalSql = `SELECT transaction_id AS id, count(*)::int AS n FROM tx_operations
                       WHERE transaction_id = ANY($1) AND state = 'applied' GROUP BY 1`;
  const [ledgerOps, custodyOps] = await Promise.all([counts(d.ledger, journalSql, txIds), counts(d.custody, journalSql, txIds)]);
  for (const r of of('transaction')) {
    const got = { ledger: ledgerOps.get(r.externalId) ?? 0, custody: custodyOps.get(r.externalId) ?? 0 };
    const want = r.alsoAllowed && r.observed === r.alsoAllowed ? { ledger: 0, custody: 0 } : r.journal!;
    if (got.ledger !== want.ledger || got.custody !== want.custody) {
      out.push(
        `transaction id ${r.externalId} has ${got.ledger} ledger and ${got.custody} custody operations applied, expected ${want.ledger} and ${want.custody}`,
      );
    }
  }
  const withdrawals = await counts(
    d.ledger,
    `SELECT id::text AS id, count(*)::int AS n FROM withdrawals WHERE id = ANY($1::uuid[]) GROUP BY 1`,
    of('withdrawal').map((r) => r.externalId),
  );
  for (const r of of('withdrawal')) once('withdrawal id', r, withdrawals.get(r.externalId), 1);
  const orders = of('trade');
  const { rows } = await d.ledger.query<{ owner: string; client_order_id: string; n: number; filled: string }>(
    `SELECT owner, client_order_id, count(*)::int AS n, max(filled)::text AS filled FROM orders
      WHERE client_order_id = ANY($1) GROUP BY 1, 2`,
    [orders.map((r) => r.order!.clientOrderId)],
  );
  const byId = new Map(rows.map((r) => [`${r.owner}/${r.client_order_id}`, r]));
  for (const r of orders) {
    const row = byId.get(r.externalId);
    once('client order id', r, row?.n, 1);
    if (row && row.filled !== r.order!.filled)
      out.push(`order ${r.externalId} filled ${row.filled}, expected ${r.order!.filled}`);
  }
  return out;
}

/** A completed withdrawal is on the chain once; a refused one never. */
async function withdrawalsOnChainOnce(d: Driver): Promise<string[]> {
  // Without a chain simulator the run starts no withdrawal.
  if (!d.chainUrl) return [];
  const res = await fetch(`${d.chainUrl}/admin/txs`);
  const { txs } = (await res.json()) as { txs: Array<{ withdrawalId: string; amount: string }> };
  const sent = new Map<string, number>();
  for (const t of txs) if (t.amount !== '') sent.set(t.withdrawalId, (sent.get(t.withdrawalId) ?? 0) + 1);
  const out: string[] = [];
  for (const r of d.records.filter((x) => x.kind === 'withdrawal')) {
    const want = r.expected === 'COMPLETED' ? 1 : 0;
    const n = sent.get(r.externalId) ?? 0;
    if (n !== want) out.push(`withdrawal ${r.externalId} is on the chain ${n} time(s), expected ${want}`);
  }
  return out;
}

/** Every config transaction applied once, in the order the run submitted them. */
async function configInOrder(d: Driver): Promise<string[]> {
  const ids = d.records.filter((r) => r.configId).map((r) => r.configId!);
  const { rows } = await d.ledger.query<{ id: string; sequence: string; status: string }>(
    // By the column: ordered by the text alias, sequence 10 would come before 7.
    'SELECT id, sequence::text AS sequence, status FROM config_transactions WHERE id = ANY($1) ORDER BY config_transactions.sequence',
    [ids],
  );
  const out: string[] = [];
  if (rows.length !== ids.length)
    out.push(`${ids.length - rows.length} of ${ids.length} config transactions were never recorded`);
  const applied = rows.map((r) => r.id);
  const submitted = ids.filter((id) => applied.includes(id));
  if (applied.join() !== submitted.join()) {
    const at = applied.findIndex((id, i) => id !== submitted[i]);
    out.push(`config applied out of submission order from position ${at}: ${applied[at]} before ${submitted[at]}`);
  }
  return out;
}
