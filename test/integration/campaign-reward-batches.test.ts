import { randomUUID } from 'node:crypto';
import { cancelCampaign, createCampaign, getCampaign, payRewards, type CampaignRequest } from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { useTestContext } from '../helpers/context';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
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
});
