import { randomUUID } from 'node:crypto';
import { allowWithdrawalAddress, startWithdrawal, type WithdrawalRequest } from '../../src/client/withdrawals';
import { DomainError } from '../../src/domain/errors';
import { setAccountFrozen } from '../../src/db/queries/accounts';
import { otpContext, seal } from '../../src/security/secret-box';
import { totpCode } from '../../src/security/totp';
import { withdrawCrypto as withdrawWorkflow } from '../../src/workflows';
import { balances, count } from '../helpers/fixtures';
import { ChainSimProcess } from '../helpers/chain-sim';
import { useTestContext } from '../helpers/context';
import {
  applyWithdrawalRules,
  codes,
  customer,
  expectAllInvariants,
  failureOf,
  gatewayFor,
  randomBtcAddress,
  randomEthAddress,
  TOTP_KEY,
  type Customer,
} from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);
let btc: Customer;
let eth: Customer;

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
  btc = await customer(ctx.pool);
  eth = await customer(ctx.pool, { asset: 'ETH', funds: 50n * 10n ** 18n });
});
afterAll(() => sim.dispose());

/** Nothing was written for the account: no withdrawal row, no hold, nothing on the chain. */
async function expectNothingHappened(c: Customer, funds: bigint): Promise<void> {
  expect(await count(ctx.pool, 'SELECT 1 FROM withdrawals WHERE account_id = $1', [c.accountId])).toBe(0);
  expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE debit_account_id = $1', [c.accountId])).toBe(0);
  const b = await balances(ctx.pool, c.accountId);
  expect(b.balance).toBe(funds);
  expect(b.debitsPending).toBe(0n);
  expect((await sim.sent()).filter((t) => t.address === c.address)).toEqual([]);
}

const BTC_FUNDS = 500_000_000n;
const ETH_FUNDS = 50n * 10n ** 18n;

describe('withdrawal bad input is refused naming the field; nothing held or sent', () => {
  const checksumFlipped = (a: string) => {
    const i = [...a].findIndex((ch, k) => k > 1 && /[a-fA-F]/.test(ch));
    const ch = a[i] as string;
    return a.slice(0, i) + (ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase()) + a.slice(i + 1);
  };

  test('refused by the saga: address, amount, limits, security', async () => {
    const tq = ctx.taskQueue();
    await ctx.withWorker(
      tq,
      async () => {
        const cases: Array<[string, () => Customer, (otp: string) => Partial<WithdrawalRequest>, string, RegExp]> = [
          ['malformed address', () => btc, () => ({ address: 'bc1qnotanaddress' }), 'ValidationError', /^address: /],
          ['address with a NUL', () => btc, () => ({ address: `${btc.address}\u0000` }), 'ValidationError', /^address: /],
          [
            'address with a space inside',
            () => btc,
            () => ({ address: `${btc.address.slice(0, 10)} ${btc.address.slice(10)}` }),
            'ValidationError',
            /^address: /,
          ],
          [
            'address in full-width characters',
            () => btc,
            () => ({ address: [...btc.address].map((ch) => String.fromCodePoint(ch.codePointAt(0)! + 0xfee0)).join('') }),
            'ValidationError',
            /^address: /,
          ],
          [
            'base58 checksum',
            () => btc,
            () => ({ address: '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3' }),
            'ValidationError',
            /^address: .*checksum/,
          ],
          [
            'testnet address on mainnet',
            () => btc,
            () => ({ address: randomBtcAddress('tb') }),
            'ValidationError',
            /^address: .*testnet/,
          ],
          ['an Ethereum address for BTC', () => btc, () => ({ address: randomEthAddress() }), 'ValidationError', /^address: /],
          [
            'a Bitcoin address for ETH',
            () => eth,
            () => ({ address: '1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2' }),
            'ValidationError',
            /^address: /,
          ],
          [
            'EIP-55 case changed',
            () => eth,
            () => ({ address: checksumFlipped(eth.address) }),
            'ValidationError',
            /^address: .*EIP-55/,
          ],
          ['below the minimum', () => btc, () => ({ amount: '0.00001' }), 'ValidationError', /^amount: .*below the minimum/],
          [
            'over the per-withdrawal limit',
            () => btc,
            () => ({ amount: '1.5' }),
            'ValidationError',
            /^amount: .*per-withdrawal limit/,
          ],
          [
            'not on the allow-list',
            () => btc,
            () => ({ address: randomBtcAddress() }),
            'SecurityRejected',
            /^address: .*not on the allow-list/,
          ],
          [
            'wrong code',
            () => btc,
            (otp) => ({ otp: otp === '000000' ? '111111' : '000000' }),
            'SecurityRejected',
            /^otp: .*wrong or expired/,
          ],
          [
            'expired code',
            () => btc,
            () => ({ otp: totpCode(btc.secret, new Date(Date.now() - 300_000)) }),
            'SecurityRejected',
            /^otp: .*wrong or expired/,
          ],
        ];
        for (const [name, who, change, type, message] of cases) {
          const c = who();
          const [, otp] = await codes(c.secret);
          const amount = c.asset === 'BTC' ? '0.1' : '1';
          const { workflowId } = await startWithdrawal(
            ctx.client(tq),
            { accountId: c.accountId, asset: c.asset, address: c.address, amount, otp, pollSeconds: 0.2, ...change(otp) },
            TOTP_KEY,
          );
          const f = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(workflowId).result());
          expect({ name, type: f.type, message: f.message }).toEqual({ name, type, message: expect.stringMatching(message) });
        }

        // Cooling-off not over yet.
        const cooling = randomBtcAddress();
        await allowWithdrawalAddress(ctx.pool, {
          accountId: btc.accountId,
          asset: 'BTC',
          address: cooling,
          coolingOffSeconds: 3600,
          network: 'mainnet',
        });
        const [, otp] = await codes(btc.secret);
        const r1 = await startWithdrawal(
          ctx.client(tq),
          { accountId: btc.accountId, asset: 'BTC', address: cooling, amount: '0.1', otp },
          TOTP_KEY,
        );
        const f1 = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(r1.workflowId).result());
        expect([f1.type, f1.message]).toEqual(['SecurityRejected', expect.stringMatching(/^address: .*cooling-off period/)]);

        // Wrong types straight into the workflow (past the client).
        const raw = await ctx.temporal.workflow.start(withdrawWorkflow, {
          taskQueue: tq,
          workflowId: `withdrawal-${randomUUID()}`,
          args: [
            {
              withdrawalId: randomUUID(),
              accountId: btc.accountId,
              asset: 'BTC',
              address: btc.address,
              amount: 5,
              otpCiphertext: 'x',
            } as never,
          ],
        });
        const f2 = await failureOf(raw.result());
        expect([f2.type, f2.message]).toEqual(['ValidationError', expect.stringMatching(/amount: /)]);

        // A sealed code moved to another withdrawal does not open.
        const moved = seal(TOTP_KEY, otp, otpContext(randomUUID()));
        const raw2 = await ctx.temporal.workflow.start(withdrawWorkflow, {
          taskQueue: tq,
          workflowId: `withdrawal-${randomUUID()}`,
          args: [
            {
              withdrawalId: randomUUID(),
              accountId: btc.accountId,
              asset: 'BTC',
              address: btc.address,
              amount: '10000000',
              otpCiphertext: moved,
            },
          ],
        });
        expect((await failureOf(raw2.result())).message).toMatch(/^otp: /);

        // A frozen account.
        await setAccountFrozen(ctx.pool, { id: btc.accountId, frozen: true, reason: 'fraud review' });
        const r3 = await startWithdrawal(
          ctx.client(tq),
          { accountId: btc.accountId, asset: 'BTC', address: btc.address, amount: '0.1', otp },
          TOTP_KEY,
        );
        const f3 = await failureOf(ctx.temporal.workflow.getHandle<typeof withdrawWorkflow>(r3.workflowId).result());
        expect([f3.type, f3.message]).toEqual([
          'SecurityRejected',
          expect.stringMatching(/^accountId: .*frozen \(fraud review\)/),
        ]);
        await setAccountFrozen(ctx.pool, { id: btc.accountId, frozen: false });
      },
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    await expectNothingHappened(btc, BTC_FUNDS);
    await expectNothingHappened(eth, ETH_FUNDS);
    await expectAllInvariants(ctx);
  });

  test('refused by the client before anything starts: scale, types, code format', async () => {
    const tq = ctx.taskQueue();
    const base = { accountId: btc.accountId, asset: 'BTC', address: btc.address, amount: '0.1', otp: '123456' };
    const bad: Array<[Partial<Record<keyof typeof base | 'withdrawalId', unknown>>, RegExp]> = [
      [{ amount: '0.000000001' }, /^amount has 9 decimal places but the asset allows 8/],
      [{ amount: '-1' }, /^amount must be a plain positive decimal/],
      [{ amount: 0.5 }, /amount: amount must be a decimal string/],
      [{ otp: '12345' }, /otp: otp must be 6 digits/],
      [{ accountId: 'not-a-uuid' }, /accountId: must be a UUID/],
      [{ asset: 'DOGE' }, /^asset: unknown asset "DOGE"/],
      [{ address: '€'.repeat(10_000) }, /address: address must be at most 128 characters/],
      [{ amount: '1e3' }, /^amount /],
      [{ amount: '9'.repeat(40) }, /^amount /],
      [{ withdrawalId: 'ABC' }, /withdrawalId: must be a UUID/],
      [{ accountId: randomUUID() }, /^accountId: account .* does not exist/],
    ];
    for (const [change, message] of bad) {
      const err = await startWithdrawal(ctx.client(tq), { ...base, ...change } as WithdrawalRequest, TOTP_KEY).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DomainError);
      expect([(err as DomainError).type, (err as DomainError).message]).toEqual([
        'ValidationError',
        expect.stringMatching(message),
      ]);
    }
    expect(await count(ctx.pool, 'SELECT 1 FROM withdrawals WHERE account_id = $1', [btc.accountId])).toBe(0);
  });
});
