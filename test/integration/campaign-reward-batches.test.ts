import { randomUUID } from 'node:crypto';
import { cancelCampaign, createCampaign, getCampaign, payRewards, type CampaignRequest } from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { useTestContext } from '../helpers/context';
import { fundedAccount, openUserAccounts, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { balances, count, houseAccount, openUserAccount } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const request = (owner: string, extra: Partial<CampaignRequest> = {}): CampaignRequest => ({
  ownerAccountId: owner,
  name: `batches-${randomUUID().slice(0, 8)}`,
  budget: '100.00',
  rewardPerUser: '5.00',
  maxPerUser: '10.00',
  ...extra,
});
const users = (n: number) => Promise.all(Array.from({ length: n }, () => openUserAccount(ctx.pool)));
const rewardedCount = (campaignId: string) =>
  count(ctx.pool, 'SELECT 1 FROM campaign_rewards WHERE campaign_id = $1', [campaignId]);

describe('reward batch ids', () => {
  test('a batch id reused with other recipients or amounts is an IdempotencyConflict naming the difference and pays nothing; the same content returns the first outcome', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const [alice, bob, carol, dave] = (await users(4)) as [string, string, string, string];
    const budgetHouse = await houseAccount(ctx.pool, 'USD', 'campaign_budget');
    await ctx.withWorker(tq, async () => {
      const { campaignId } = await createCampaign(client, request(owner));
      const first = await payRewards(client, campaignId, [{ accountId: alice }, { accountId: bob }], { batchId: 'week-1' });
      expect(first).toMatchObject({ paid: 2, alreadyPaid: 0, amount: '1000', spent: '1000', remaining: '9000' });
      const houseBefore = await balances(ctx.pool, budgetHouse);

      // Same id and total, other recipients: this once paid carol and dave from the budget account without a capture.
      await expect(
        payRewards(client, campaignId, [{ accountId: carol }, { accountId: dave }], { batchId: 'week-1' }),
      ).rejects.toMatchObject({
        type: 'IdempotencyConflict',
        message: expect.stringMatching(new RegExp(`week-1.*rewards\\.0\\.accountId: ${carol} .*not in.*${alice}.*missing`)),
      });
      // One recipient swapped.
      await expect(
        payRewards(client, campaignId, [{ accountId: alice }, { accountId: carol }], { batchId: 'week-1' }),
      ).rejects.toMatchObject({
        type: 'IdempotencyConflict',
        message: expect.stringMatching(new RegExp(`week-1.*rewards\\.1\\.accountId: ${carol} .*not in.*${bob}.*missing`)),
      });
      // Same recipients, another amount.
      await expect(
        payRewards(client, campaignId, [{ accountId: alice }, { accountId: bob, amount: '7.50' }], { batchId: 'week-1' }),
      ).rejects.toMatchObject({
        type: 'IdempotencyConflict',
        message: expect.stringMatching(/rewards\.1\.amount: .*7\.50 USD.*5\.00 USD/),
      });
      // A recipient added to the same batch.
      await expect(
        payRewards(client, campaignId, [{ accountId: alice }, { accountId: bob }, { accountId: carol }], { batchId: 'week-1' }),
      ).rejects.toMatchObject({ type: 'IdempotencyConflict', message: expect.stringMatching(/rewards\.2\.accountId/) });
      for (const u of [carol, dave]) expect((await balances(ctx.pool, u)).balance).toBe(0n);
      expect((await balances(ctx.pool, bob)).balance).toBe(500n);
      expect(await balances(ctx.pool, budgetHouse)).toEqual(houseBefore);
      expect(await rewardedCount(campaignId)).toBe(2);

      // The same content again (in another order, amounts spelled out) returns the first outcome and pays nothing.
      const again = await payRewards(client, campaignId, [{ accountId: bob, amount: '5.00' }, { accountId: alice }], {
        batchId: 'week-1',
      });
      expect(again).toMatchObject({ paid: 2, alreadyPaid: 0, amount: '1000', spent: '1000', remaining: '9000', repeated: true });
      expect(await balances(ctx.pool, budgetHouse)).toEqual(houseBefore);
      expect(await getCampaign(ctx.pool, campaignId)).toMatchObject({ spent: '10.00', rewardsPaid: 2 });

      const final = await cancelCampaign(client, campaignId);
      expect(final).toMatchObject({ spent: '1000', released: '9000', rewardsPaid: 2 });
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 49_000n });
  });

  test('one batch of 2,000 rewards is paid in one transaction, all of it; the same batch again pays nobody twice', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 500_000n);
    const recipients = await openUserAccounts(ctx.pool, 2000);
    await ctx.withWorker(tq, async () => {
      const { campaignId } = await createCampaign(
        client,
        request(owner, { budget: '2000.00', rewardPerUser: '1.00', maxPerUser: '1.00' }),
      );
      const batch = recipients.map((accountId) => ({ accountId }));
      expect(await payRewards(client, campaignId, batch)).toMatchObject({ paid: 2000, amount: '200000', remaining: '0' });
      expect(await payRewards(client, campaignId, batch)).toMatchObject({ paid: 2000, repeated: true });
      expect(await rewardedCount(campaignId)).toBe(2000);
      const { rows } = await ctx.pool.query<{ n: string; total: string }>(
        'SELECT COUNT(*)::text AS n, SUM(credits_posted)::text AS total FROM accounts WHERE id = ANY($1)',
        [recipients],
      );
      expect(rows[0]).toEqual({ n: '2000', total: '200000' });
      // The budget is spent to the last minor unit: one more reward is refused whole.
      const extra = await openUserAccount(ctx.pool);
      await expect(payRewards(client, campaignId, [{ accountId: extra }])).rejects.toMatchObject({ type: 'InsufficientFunds' });
      expect(await cancelCampaign(client, campaignId)).toMatchObject({ spent: '200000', released: '0' });
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 300_000n });
  }, 300_000);

  test('a recipient twice in one batch, in any letter case, is refused whole; ids in upper case are the same accounts and campaign', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const [alice, bob] = (await users(2)) as [string, string];
    const campaignId = randomUUID();
    await ctx.withWorker(tq, async () => {
      await createCampaign(client, request(owner.toUpperCase(), { campaignId: campaignId.toUpperCase() }));
      await expect(
        payRewards(client, campaignId, [{ accountId: alice }, { accountId: bob }, { accountId: ` ${alice.toUpperCase()} ` }]),
      ).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/rewards\.2\.accountId: .* appears twice/),
      });
      expect(await rewardedCount(campaignId)).toBe(0);
      const paid = await payRewards(client, campaignId.toUpperCase(), [{ accountId: alice.toUpperCase() }, { accountId: bob }], {
        batchId: 'upper',
      });
      expect(paid).toMatchObject({ campaignId, paid: 2 });
      // The same batch written in lower case is the same content.
      const again = await payRewards(client, campaignId, [{ accountId: alice }, { accountId: bob }], { batchId: 'upper' });
      expect(again).toMatchObject({ paid: 2, repeated: true });
      expect(await getCampaign(ctx.pool, campaignId.toUpperCase())).toMatchObject({ campaignId, ownerAccountId: owner });
      await cancelCampaign(client, campaignId.toUpperCase());
    });
    expect((await balances(ctx.pool, alice)).balance).toBe(500n);
  });

  test('the per-user maximum holds across batches: a recipient paid once is skipped at the same amount and refused at another', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const [alice, bob, carol] = (await users(3)) as [string, string, string];
    await ctx.withWorker(tq, async () => {
      const { campaignId } = await createCampaign(client, request(owner));
      await payRewards(client, campaignId, [{ accountId: alice, amount: '10.00' }], { batchId: 'first' });
      // Another 10.00 to alice would make 20.00, over the 10.00 maximum: the whole batch pays nothing.
      await expect(
        payRewards(client, campaignId, [{ accountId: bob }, { accountId: alice, amount: '5.00' }], { batchId: 'second' }),
      ).rejects.toMatchObject({
        type: 'IdempotencyConflict',
        message: expect.stringMatching(/rewards\.1: account .* was already rewarded 10\.00 USD by this campaign, not 5\.00 USD/),
      });
      expect((await balances(ctx.pool, bob)).balance).toBe(0n);
      const second = await payRewards(client, campaignId, [{ accountId: carol }, { accountId: alice, amount: '10.00' }], {
        batchId: 'second',
      });
      expect(second).toMatchObject({ paid: 1, alreadyPaid: 1, amount: '500', spent: '1500' });
      expect((await balances(ctx.pool, alice)).balance).toBe(1000n);
      await cancelCampaign(client, campaignId);
    });
  });

  test('amounts at the scale limit: one minor unit is a reward, a digit past the scale or past numeric(38) is refused by field', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 10_000_000n);
    const [alice, bob] = (await users(2)) as [string, string];
    await ctx.withWorker(tq, async () => {
      // The configured maximum budget to the cent, and the configured maximum reward.
      const { campaignId } = await createCampaign(client, request(owner, { budget: '100000.00', maxPerUser: '50.00' }));
      for (const [amount, message] of [
        ['0.001', /rewards\.0\.amount has 3 decimal places but the asset allows 2/],
        ['1e2', /rewards\.0\.amount must be a plain positive decimal/],
        ['0.00', /rewards\.0\.amount must be greater than zero/],
        ['9'.repeat(40), /rewards\.0\.amount is out of range/],
        ['50.01', /rewards\.0\.amount: 50\.01 USD is over the per-user maximum of 50\.00 USD/],
      ] as const) {
        await expect(payRewards(client, campaignId, [{ accountId: alice, amount }])).rejects.toMatchObject({
          type: 'ValidationError',
          message: expect.stringMatching(message),
        });
      }
      expect(
        await payRewards(client, campaignId, [
          { accountId: alice, amount: '0.01' },
          { accountId: bob, amount: '50.00' },
        ]),
      ).toMatchObject({ paid: 2, amount: '5001', remaining: String(10_000_000 - 5001) });
      await expect(createCampaign(client, request(owner, { budget: '100000.01' }))).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/budget: 100000\.01 USD is over the configured maximum/),
      });
      await cancelCampaign(client, campaignId);
    });
    expect((await balances(ctx.pool, alice)).balance).toBe(1n);
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 10_000_000n - 5001n });
  });
});
