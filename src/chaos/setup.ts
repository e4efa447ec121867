import { applyConfigList, exampleConfigTransactions } from '../client/config';
import { executeTransaction } from '../client/transactions';
import { allowWithdrawalAddress, enrollTotp } from '../client/withdrawals';
import { findHouseAccount } from '../db/queries/accounts';
import { retrying, type Driver } from './driver';
import type { ChaosPlan } from './plan';
import type { Rng } from './rng';

/**
 * The accounts the workload runs on, opened and funded through the client before the
 * first fault: the deposit targets, traders, campaign owners, the transaction core's
 * accounts on the ledger and custody, and one BTC account per withdrawal (a one-time code
 * is usable once per account and time step).
 */

export const TRADERS = 6;
export const DEPOSIT_ACCOUNTS = 8;
export const TX_ACCOUNTS = 8;
export const CAMPAIGN_OWNERS = 4;
/** Minor units every funded account starts with. */
export const FUNDING: Record<string, bigint> = { USD: 10n ** 12n, BTC: 10n ** 11n, ETH: 10n ** 21n };
export const WITHDRAWAL_FUNDING = 10n ** 8n; // 1 BTC
export const GOOD_ADDRESS = 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq';
export const REFUSED_ADDRESS = '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2';

export interface Accounts {
  deposit: string[];
  lockVictim: string;
  traders: string[];
  campaignOwners: string[];
  txLedger: string[];
  txCustody: string[];
  /** Per withdrawal scenario index: its account and TOTP secret. */
  withdrawal: Map<number, { accountId: string; secret: string }>;
}

async function openAccounts(d: Driver, owner: string, asset: string, n: number, rng: Rng): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const accountId = rng.uuid();
    await retrying('open an account', () => d.txmgr.openAccount({ owner: n === 1 ? owner : `${owner}-${i}`, asset, accountId }));
    ids.push(accountId);
  }
  return ids;
}

/** Funds accounts from the house's external account, in atomic transactions of the transaction core. */
async function fund(
  d: Driver,
  resource: 'ledger' | 'custody',
  asset: string,
  accounts: string[],
  amount: bigint,
  label: string,
): Promise<void> {
  const pool = resource === 'ledger' ? d.ledger : d.custody;
  const house = await findHouseAccount(pool, asset, asset === 'USD' ? 'external_bank' : 'external_chain');
  if (!house) throw new Error(`no house account for ${asset} on ${resource}`);
  for (let at = 0; at < accounts.length; at += 200) {
    const batch = accounts.slice(at, at + 200);
    const id = `chaos-${d.names.tag}-fund-${label}-${resource}-${asset}-${at}`;
    const result = await retrying('fund accounts', () =>
      executeTransaction(
        { temporal: d.temporal, taskQueue: d.taskQueue },
        {
          id,
          mode: 'atomic',
          operations: batch.map((creditAccountId) => ({
            type: 'ledger.transfer',
            resource,
            params: { debitAccountId: house.id, creditAccountId, asset, amount: amount.toString() },
          })),
        },
      ),
    );
    if (result.status !== 'COMMITTED') throw new Error(`funding ${id} ended ${result.status}`);
  }
}

export async function setUp(d: Driver, plan: ChaosPlan, rng: Rng, say: (line: string) => void): Promise<Accounts> {
  await retrying('apply the example config', () => applyConfigList(d.siphon, exampleConfigTransactions()));
  // The node refuses every broadcast to this address: those withdrawals end ChainRejected.
  const chainUrl = d.chainUrl;
  if (chainUrl) {
    await retrying('set the chain refusal', async () => {
      const res = await fetch(`${chainUrl}/admin/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ kind: 'reject', address: REFUSED_ADDRESS }),
      });
      if (!res.ok) throw new Error(`chain simulator answered ${res.status}`);
    });
  }
  const traders = Array.from({ length: TRADERS }, (_, i) => d.owner(`trader-${i}`));
  for (const t of traders) {
    for (const asset of ['USD', 'BTC', 'ETH']) {
      const [id] = await openAccounts(d, t, asset, 1, rng);
      await fund(d, 'ledger', asset, [id!], FUNDING[asset]!, `${t}`);
    }
  }
  const accounts: Accounts = {
    deposit: await openAccounts(d, d.owner('depositor'), 'USD', DEPOSIT_ACCOUNTS, rng),
    lockVictim: (await openAccounts(d, d.owner('lock-victim'), 'USD', 1, rng))[0]!,
    traders,
    campaignOwners: await openAccounts(d, d.owner('campaigner'), 'USD', CAMPAIGN_OWNERS, rng),
    txLedger: await openAccounts(d, d.owner('tx'), 'USD', TX_ACCOUNTS, rng),
    txCustody: [],
    withdrawal: new Map(),
  };
  await fund(d, 'ledger', 'USD', [...accounts.campaignOwners, ...accounts.txLedger], FUNDING.USD!, 'usd');
  // Custody accounts: the custody database has no account workflow; an operator opens them there.
  for (let i = 0; i < TX_ACCOUNTS; i++) {
    const id = rng.uuid();
    await d.custody.query(
      `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits) VALUES ($1, 'USD', 'user', $2, true)`,
      [id, d.owner(`custody-${i}`)],
    );
    accounts.txCustody.push(id);
  }
  await fund(d, 'custody', 'USD', accounts.txCustody, FUNDING.USD!, 'custody');

  const withdrawals = plan.scenarios.filter((s) => s.kind === 'withdrawal');
  say(`  opening ${withdrawals.length} withdrawal accounts (one-time codes are per account and time step) ...`);
  // Ids drawn in plan order first: the same seed names the same accounts however the opening interleaves.
  const ids = withdrawals.map((s) => ({ s, accountId: rng.uuid() }));
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < ids.length) {
        const { s, accountId } = ids[next++]!;
        await retrying('open an account', () =>
          d.txmgr.openAccount({ owner: d.owner(`withdrawer-${s.index}`), asset: 'BTC', accountId }),
        );
        const { secret } = await retrying('enrol TOTP', () => enrollTotp(d.ledger, accountId, d.totpKey));
        for (const address of [GOOD_ADDRESS, REFUSED_ADDRESS]) {
          await retrying('allow an address', () =>
            allowWithdrawalAddress(d.ledger, { accountId, asset: 'BTC', address, coolingOffSeconds: 0, network: 'mainnet' }),
          );
        }
        accounts.withdrawal.set(s.index, { accountId, secret });
      }
    }),
  );
  const funded = ids.map(({ accountId }) => accountId);
  await fund(d, 'ledger', 'BTC', funded, WITHDRAWAL_FUNDING, 'withdrawals');
  return accounts;
}
