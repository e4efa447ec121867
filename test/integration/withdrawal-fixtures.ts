import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { bech32 } from 'bech32';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { HttpChainGateway } from '../../src/chain/http-gateway';
import { allowWithdrawalAddress, enrollTotp } from '../../src/client/withdrawals';
import { eip55 } from '../../src/domain/address';
import { postTransfer } from '../../src/db/ledger';
import { findHouseAccount } from '../../src/db/queries/accounts';
import { upsertWithdrawalRule } from '../../src/db/queries/config-areas';
import { withTransaction } from '../../src/db/transaction';
import { checkWithdrawalInvariants } from '../../src/db/invariants-withdrawal';
import { totpCode } from '../../src/security/totp';
import type { TestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import type { ChainSimProcess } from '../helpers/chain-sim';

export const TOTP_KEY = randomBytes(32);

/** BTC: minimum 0.0001, 1 per withdrawal, 2 a day, fee 0.00005, 3 confirmations. ETH: 0.001 / 10 / 20, fee 0.0005, 2. */
export async function applyWithdrawalRules(pool: Pool): Promise<void> {
  await withTransaction(pool, 'test-rules', async (tx) => {
    await upsertWithdrawalRule(
      tx,
      {
        asset: 'BTC',
        minimum: '10000',
        perTransactionLimit: '100000000',
        dailyLimit: '200000000',
        networkFee: '5000',
        confirmationsRequired: 3,
        addressFormat: '^(bc1[02-9ac-hj-np-z]{11,71}|[13][1-9A-HJ-NP-Za-km-z]{25,34})$',
      },
      1,
    );
    await upsertWithdrawalRule(
      tx,
      {
        asset: 'ETH',
        minimum: '1000000000000000',
        perTransactionLimit: '10000000000000000000',
        dailyLimit: '20000000000000000000',
        networkFee: '500000000000000',
        confirmationsRequired: 2,
        addressFormat: '^0x[0-9a-fA-F]{40}$',
      },
      1,
    );
  });
}

export const randomBtcAddress = (hrp = 'bc'): string => bech32.encode(hrp, [0, ...bech32.toWords(randomBytes(20))]);
export const randomEthAddress = (): string => eip55(`0x${randomBytes(20).toString('hex')}`);

export const gatewayFor = (sim: ChainSimProcess, timeoutMs = 1_500) =>
  new HttpChainGateway({ baseUrl: sim.url, network: 'mainnet', timeoutMs });

export interface Customer {
  accountId: string;
  secret: string;
  address: string;
  asset: string;
}

/** A funded account, enrolled for one-time codes, with one allow-listed destination past its cooling-off. */
export async function customer(
  pool: Pool,
  o: { asset?: string; funds?: bigint; coolingOffSeconds?: number } = {},
): Promise<Customer> {
  const asset = o.asset ?? 'BTC';
  const accountId = await openUserAccount(pool, asset);
  const funds = o.funds ?? 500_000_000n;
  await withTransaction(pool, 'test-fund', async (tx) => {
    const chain = await findHouseAccount(tx, asset, 'external_chain');
    await postTransfer(tx, { id: randomUUID(), debitAccountId: chain!.id, creditAccountId: accountId, asset, amount: funds });
  });
  const { uri } = await enrollTotp(pool, accountId, TOTP_KEY);
  const secret = new URL(uri).searchParams.get('secret') as string;
  const address = asset === 'BTC' ? randomBtcAddress() : randomEthAddress();
  await allowWithdrawalAddress(pool, {
    accountId,
    asset,
    address,
    coolingOffSeconds: o.coolingOffSeconds ?? 0,
    network: 'mainnet',
  });
  return { accountId, secret, address, asset };
}

/** Codes of the previous, current and next time step, taken well inside a step so all three stay valid for seconds. */
export async function codes(secret: string): Promise<[string, string, string]> {
  const into = (Date.now() / 1000) % 30;
  if (into > 22) await new Promise((r) => setTimeout(r, (30 - into + 0.5) * 1000));
  const now = Date.now();
  return [totpCode(secret, new Date(now - 30_000)), totpCode(secret, new Date(now)), totpCode(secret, new Date(now + 30_000))];
}

export async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof WorkflowFailedError)) throw new Error(`expected the workflow to fail, got ${String(err)}`);
  expect(err.cause).toBeInstanceOf(ApplicationFailure);
  return err.cause as ApplicationFailure;
}

export async function expectAllInvariants(ctx: TestContext): Promise<void> {
  await ctx.expectInvariants();
  expect(await checkWithdrawalInvariants(ctx.pool)).toEqual([]);
}
