import { randomUUID } from 'node:crypto';
import { withdrawCrypto } from '../../src/client/withdrawals';
import { upsertWithdrawalRule } from '../../src/db/queries/config-areas';
import { withTransaction } from '../../src/db/transaction';
import type { WithdrawalRule } from '../../src/domain/config';
import { createActivities } from '../../src/activities';
import type { ValidWithdrawal } from '../../src/domain/withdrawal';
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
  gatewayFor,
  TOTP_KEY,
  type Customer,
} from './withdrawal-fixtures';

const ctx = useTestContext();
const sim = new ChainSimProcess(150);

beforeAll(async () => {
  await applyWithdrawalRules(ctx.pool);
  await sim.start();
});
afterEach(async () => {
  await sim.clearFaults();
  await expectAllInvariants(ctx);
});
afterAll(() => sim.dispose());

/** The activities as a worker runs them, on the real database and simulator, with the clock at `at`. */
const activitiesAt = (at: Date) =>
  createActivities({ pool: ctx.pool, logger: ctx.logger, chain: gatewayFor(sim), totpKey: TOTP_KEY, clock: () => at });

const validFor = (c: Customer, amount: string, withdrawalId = randomUUID()): ValidWithdrawal => ({
  withdrawalId,
  accountId: c.accountId,
  asset: 'BTC',
  address: c.address,
  amount,
  fee: '5000',
  confirmationsRequired: 3,
  dailyLimit: '200000000',
});

const MINUTE = 60_000;
const errorOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as { type?: string; message?: string },
  );

describe('withdrawal steps retried late', () => {
  test('a security check retried after its code expired finds its own claim; another withdrawal cannot reuse it', async () => {
    const c = await customer(ctx.pool);
    const t0 = new Date();
    const valid = validFor(c, '1000000');
    const otpCiphertext = seal(TOTP_KEY, totpCode(c.secret, t0), otpContext(valid.withdrawalId));
    const first = await activitiesAt(t0).checkWithdrawalSecurity({ valid, otpCiphertext });
    // The first attempt committed but its answer was lost; the retry comes five minutes later.
    const retry = await activitiesAt(new Date(t0.getTime() + 5 * MINUTE)).checkWithdrawalSecurity({ valid, otpCiphertext });
    expect(retry).toEqual(first);
    // The same code sealed for another withdrawal is still refused.
    const other = validFor(c, '1000000');
    const again = await errorOf(
      activitiesAt(t0).checkWithdrawalSecurity({
        valid: other,
        otpCiphertext: seal(TOTP_KEY, totpCode(c.secret, t0), otpContext(other.withdrawalId)),
      }),
    );
    expect(again).toMatchObject({ type: 'SecurityRejected', message: expect.stringMatching(/^otp: .*already used/) });
  });

  test('one code sent with 10 concurrent withdrawals is accepted for exactly one', async () => {
    const c = await customer(ctx.pool);
    const now = new Date();
    const code = totpCode(c.secret, now);
    const racing = Array.from({ length: 10 }, () => validFor(c, '1000000'));
    const outcomes = await Promise.allSettled(
      racing.map((valid) =>
        activitiesAt(now).checkWithdrawalSecurity({ valid, otpCiphertext: seal(TOTP_KEY, code, otpContext(valid.withdrawalId)) }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as { type?: string; message?: string }] : []));
    expect(refused).toHaveLength(9);
    for (const r of refused)
      expect(r).toMatchObject({ type: 'SecurityRejected', message: expect.stringMatching(/already used/) });
    expect(await count(ctx.pool, 'SELECT 1 FROM totp_used_codes WHERE account_id = $1', [c.accountId])).toBe(1);
  });

  test('the code is judged at the time the withdrawal was submitted, not when a worker got to it', async () => {
    const c = await customer(ctx.pool);
    const submitted = new Date();
    const late = activitiesAt(new Date(submitted.getTime() + 3 * MINUTE));
    const check = (codeAt: Date, submittedAt: Date) => {
      const valid = validFor(c, '1000000');
      return late.checkWithdrawalSecurity({
        valid,
        otpCiphertext: seal(TOTP_KEY, totpCode(c.secret, codeAt), otpContext(valid.withdrawalId)),
        submittedAt: submittedAt.toISOString(),
      });
    };
    // Workers were down for three minutes after the submission: the code was good then.
    await expect(check(submitted, submitted)).resolves.toHaveProperty('timeStep');
    // A code already expired at submission stays refused.
    const stale = await errorOf(check(new Date(submitted.getTime() - 5 * MINUTE), submitted));
    expect(stale).toMatchObject({ type: 'SecurityRejected', message: 'otp: the one-time code is wrong or expired' });
    // A submission time later than now cannot stretch a code into the future.
    const future = new Date(submitted.getTime() + 10 * MINUTE);
    expect(await errorOf(check(future, future))).toMatchObject({ type: 'SecurityRejected' });
  });

  test('an upper-case withdrawal id sent straight to the workflow is polled, fenced and completed under its canonical id', async () => {
    const c = await customer(ctx.pool);
    const [, otp] = await codes(c.secret);
    const withdrawalId = randomUUID();
    const tq = ctx.taskQueue();
    const result = await ctx.withWorker(
      tq,
      () =>
        ctx.temporal.workflow.execute(withdrawWorkflow, {
          taskQueue: tq,
          workflowId: `withdrawal-${withdrawalId}`,
          args: [
            {
              withdrawalId: ` ${withdrawalId.toUpperCase()} `,
              accountId: c.accountId.toUpperCase(),
              asset: 'btc',
              address: c.address,
              amount: '1000000',
              otpCiphertext: seal(TOTP_KEY, otp, otpContext(withdrawalId)),
              pollSeconds: 0.2,
            },
          ],
        }),
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    expect(result).toMatchObject({ status: 'COMPLETED', withdrawalId, accountId: c.accountId, asset: 'BTC' });
    expect((await sim.txs()).filter((t) => t.withdrawalId.toLowerCase() === withdrawalId)).toHaveLength(1);
    expect((await sim.sent(withdrawalId))[0]).toMatchObject({ broadcasts: 1, amount: '1000000' });
  });
});

describe('steps that arrive after their compensation', () => {
  test('a hold placed after the release ran places nothing; a broadcast arriving after it is not sent', async () => {
    const c = await customer(ctx.pool);
    const acts = activitiesAt(new Date());
    const valid = validFor(c, '1000000');
    // The saga gave up on a hold attempt and compensated; the abandoned attempt then commits.
    await acts.releaseWithdrawal({ withdrawalId: valid.withdrawalId, reason: 'cancelled' });
    expect(await errorOf(acts.holdWithdrawal(valid))).toMatchObject({ type: 'HoldNotOpen' });
    expect(await count(ctx.pool, 'SELECT 1 FROM withdrawals WHERE id = $1', [valid.withdrawalId])).toBe(0);
    expect((await balances(ctx.pool, c.accountId)).debitsPending).toBe(0n);
    // A broadcast request still on its way reaches the node after the compensation: refused, nothing sent.
    const late = await gatewayFor(sim).broadcast({
      withdrawalId: valid.withdrawalId,
      asset: 'BTC',
      address: c.address,
      amount: '1000000',
    });
    expect(late.state).toBe('abandoned');
    expect(await sim.sent(valid.withdrawalId)).toEqual([]);
    expect(await errorOf(acts.broadcastWithdrawal({ withdrawalId: valid.withdrawalId }))).toMatchObject({ type: 'NotFound' });
  });
});

describe('the daily limit under concurrency and over time', () => {
  test('20 holds racing the limit: only what fits is held; a released one frees its share', async () => {
    const c = await customer(ctx.pool);
    const acts = activitiesAt(new Date());
    const racing = Array.from({ length: 20 }, () => validFor(c, '15000000'));
    const outcomes = await Promise.allSettled(racing.map((v) => acts.holdWithdrawal(v)));
    const held = racing.filter((_, i) => outcomes[i]?.status === 'fulfilled');
    const refusals = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as { type?: string; message?: string }] : []));
    // 13 × 0.15 = 1.95 BTC fits under 2 BTC a day; a 14th would not.
    expect(held).toHaveLength(13);
    expect(refusals).toHaveLength(7);
    for (const r of refusals) {
      expect(r.type).toBe('ValidationError');
      expect(r.message).toMatch(
        /^amount: 0\.15000000 BTC is over the daily limit of 2\.00000000 BTC \(0\.05000000 BTC left today\)/,
      );
    }
    expect((await balances(ctx.pool, c.accountId)).debitsPending).toBe(13n * 15_005_000n);

    const bigger = validFor(c, '20000000');
    expect(await errorOf(acts.holdWithdrawal(bigger))).toMatchObject({ type: 'ValidationError' });
    await acts.releaseWithdrawal({ withdrawalId: (held[0] as ValidWithdrawal).withdrawalId, reason: 'compensated' });
    await expect(acts.holdWithdrawal(bigger)).resolves.toHaveProperty('holdId');

    for (const v of [...held.slice(1), bigger])
      await acts.releaseWithdrawal({ withdrawalId: v.withdrawalId, reason: 'test done' });
    const b = await balances(ctx.pool, c.accountId);
    expect(b.debitsPending).toBe(0n);
    expect(b.balance).toBe(500_000_000n);
  });

  test('the limit is a rolling 24 hours: midnight UTC does not reset it', async () => {
    const c = await customer(ctx.pool);
    const beforeMidnight = new Date('2027-01-15T23:59:30Z');
    await activitiesAt(beforeMidnight).holdWithdrawal(validFor(c, '190000000'));
    const afterMidnight = new Date('2027-01-16T00:00:30Z');
    const refused = await errorOf(activitiesAt(afterMidnight).holdWithdrawal(validFor(c, '20000000')));
    expect(refused).toMatchObject({ type: 'ValidationError', message: expect.stringMatching(/0\.10000000 BTC left today/) });
    const dayLater = new Date(beforeMidnight.getTime() + 24 * 60 * MINUTE + MINUTE);
    const next = validFor(c, '20000000');
    await expect(activitiesAt(dayLater).holdWithdrawal(next)).resolves.toHaveProperty('holdId');
    const ids = (await ctx.pool.query<{ id: string }>('SELECT id FROM withdrawals WHERE account_id = $1', [c.accountId])).rows;
    for (const { id } of ids) await activitiesAt(dayLater).releaseWithdrawal({ withdrawalId: id, reason: 'test done' });
    expect(await count(ctx.pool, "SELECT 1 FROM withdrawals WHERE account_id = $1 AND status = 'RELEASED'", [c.accountId])).toBe(
      2,
    );
  });
});

describe('amounts at the scale limit', () => {
  test('an ETH withdrawal over 2^63 wei is held, sent and captured to the wei', async () => {
    const funds = 20n * 10n ** 18n;
    const c = await customer(ctx.pool, { asset: 'ETH', funds });
    const [, otp] = await codes(c.secret);
    const tq = ctx.taskQueue();
    const amount = '9.223372036854775809'; // 2^63 + 1 wei
    const result = await ctx.withWorker(
      tq,
      () =>
        withdrawCrypto(
          ctx.client(tq),
          { accountId: c.accountId, asset: 'ETH', address: c.address, amount, otp, pollSeconds: 0.2 },
          TOTP_KEY,
        ),
      { chain: gatewayFor(sim), totpKey: TOTP_KEY },
    );
    expect(result).toMatchObject({ status: 'COMPLETED', amount: '9223372036854775809', fee: '500000000000000' });
    expect((await sim.sent(result.withdrawalId))[0]?.amount).toBe('9223372036854775809');
    const b = await balances(ctx.pool, c.accountId);
    expect(b.balance).toBe(funds - 9_223_372_036_854_775_809n - 500_000_000_000_000n);
    expect(b.debitsPending).toBe(0n);
  });
});

describe('amounts against the network fee and the ledger limit', () => {
  test('an amount under the network fee, or one whose hold would not fit numeric(38,0), is refused naming amount', async () => {
    const c = await customer(ctx.pool, { asset: 'ETH', funds: 10n ** 18n });
    const max = (10n ** 38n - 1n).toString();
    const rule = (over: Partial<WithdrawalRule>): WithdrawalRule => ({
      asset: 'ETH',
      minimum: '1',
      perTransactionLimit: max,
      dailyLimit: max,
      networkFee: '500000000000000000',
      confirmationsRequired: 2,
      addressFormat: '^0x[0-9a-fA-F]{40}$',
      ...over,
    });
    const setRule = (r: WithdrawalRule) => withTransaction(ctx.pool, 'test-rule', (tx) => upsertWithdrawalRule(tx, r, 1));
    const validate = (amount: string) =>
      errorOf(
        activitiesAt(new Date()).validateWithdrawal({
          withdrawalId: randomUUID(),
          accountId: c.accountId,
          asset: 'ETH',
          address: c.address,
          amount,
          otpCiphertext: 'v1.a.b.c',
        }),
      );
    const before = (await ctx.pool.query('SELECT * FROM withdrawal_rules WHERE asset = $1', ['ETH'])).rows[0];
    try {
      await setRule(rule({}));
      expect(await validate('100000000000000000')).toMatchObject({
        type: 'ValidationError',
        message: 'amount: 0.100000000000000000 ETH is less than the network fee of 0.500000000000000000 ETH',
      });
      expect(await validate(max)).toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/^amount: .* plus the network fee is more than the ledger can hold$/),
      });
      // Equal to the fee, or just under the ledger's limit with it: accepted by validation.
      expect(await validate('500000000000000000')).toBeUndefined();
      expect(await validate((10n ** 38n - 1n - 500_000_000_000_000_000n).toString())).toBeUndefined();
    } finally {
      await setRule(
        rule({
          minimum: String(before.minimum),
          perTransactionLimit: String(before.per_transaction_limit),
          dailyLimit: String(before.daily_limit),
          networkFee: String(before.network_fee),
        }),
      );
    }
  });
});
