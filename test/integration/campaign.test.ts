import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  cancelCampaign,
  createCampaign,
  getCampaign,
  payRewards,
  startCampaign,
  type CampaignRequest,
} from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { campaignWorkflowId, type CampaignProgress } from '../../src/domain/campaign';
import { campaignProgressQuery, sagaStatusQuery, type createCampaign as campaignWorkflow } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { balances, count, houseAccount, openUserAccount } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const request = (owner: string, extra: Partial<CampaignRequest> = {}): CampaignRequest => ({
  ownerAccountId: owner,
  name: `spring-${randomUUID().slice(0, 8)}`,
  budget: '100.00',
  rewardPerUser: '5.00',
  maxPerUser: '10.00',
  ...extra,
});
const handle = (campaignId: string) => ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(campaignId));
const openHolds = (workflowId: string) =>
  count(ctx.pool, `SELECT 1 FROM holds WHERE workflow_id = $1 AND status = 'open'`, [workflowId]);

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  expect((err as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
  return (err as WorkflowFailedError).cause as ApplicationFailure;
}

describe('campaign saga', () => {
  test('an immediate campaign reserves its budget, pays rewards from the hold, and a cancel ends it early releasing the rest', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const alice = await openUserAccount(ctx.pool);
    const bob = await openUserAccount(ctx.pool);
    const budgetHouse = await houseAccount(ctx.pool, 'USD', 'campaign_budget');
    const houseBefore = await balances(ctx.pool, budgetHouse);
    await ctx.withWorker(tq, async () => {
      const setup = await createCampaign(client, request(owner));
      expect(setup).toMatchObject({ status: 'active', budget: '10000' });
      expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 10_000n, available: 40_000n });

      const paid = await payRewards(client, setup.campaignId, [{ accountId: alice }, { accountId: bob, amount: '7.50' }]);
      expect(paid).toMatchObject({ paid: 2, alreadyPaid: 0, amount: '1250', spent: '1250', remaining: '8750' });
      // The same batch again pays nobody twice: it answers with its first outcome.
      const again = await payRewards(client, setup.campaignId, [{ accountId: alice }, { accountId: bob, amount: '7.50' }]);
      expect(again).toMatchObject({ paid: 2, alreadyPaid: 0, amount: '1250', spent: '1250', repeated: true });
      expect((await balances(ctx.pool, alice)).balance).toBe(500n);
      expect((await balances(ctx.pool, bob)).balance).toBe(750n);

      const final = await cancelCampaign(client, setup.campaignId, 'budget moved to summer');
      expect(final).toMatchObject({
        status: 'cancelled',
        outcome: 'ended-early',
        spent: '1250',
        released: '8750',
        rewardsPaid: 2,
      });
      expect(await handle(setup.campaignId).result()).toMatchObject({ outcome: 'ended-early' });
      expect(await handle(setup.campaignId).query(sagaStatusQuery)).toMatchObject({
        status: 'COMPLETED',
        stepsDone: ['validate', 'record', 'state', 'reserve', 'activate', 'close'],
      });
      const view = await getCampaign(ctx.pool, setup.campaignId);
      expect(view).toMatchObject({ status: 'cancelled', spent: '12.50', released: '87.50', budget: '100.00', rewardsPaid: 2 });
      expect(await openHolds(setup.workflowId)).toBe(0);
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 48_750n });
    const houseAfter = await balances(ctx.pool, budgetHouse);
    expect(houseAfter.balance - houseBefore.balance).toBe(0n);
  });

  test('a scheduled campaign activates at its start by a durable timer and completes at its end', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const carol = await openUserAccount(ctx.pool);
    await ctx.withWorker(tq, async () => {
      const setup = await createCampaign(client, request(owner, { startsAt: inSeconds(2), endsAt: inSeconds(5) }));
      expect(setup.status).toBe('scheduled');
      expect((await getCampaign(ctx.pool, setup.campaignId)).status).toBe('scheduled');
      await expect(payRewards(client, setup.campaignId, [{ accountId: carol }])).rejects.toThrow(/only while it is active/);
      await eventually(async () => (await handle(setup.campaignId).query(campaignProgressQuery)).status === 'active', 10_000);
      await payRewards(client, setup.campaignId, [{ accountId: carol }]);
      const result = await handle(setup.campaignId).result();
      expect(result).toMatchObject({ status: 'completed', outcome: 'completed', spent: '500', released: '9500' });
      expect(await openHolds(setup.workflowId)).toBe(0);
      expect((await getCampaign(ctx.pool, setup.campaignId)).status).toBe('completed');
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 19_500n });
  });

  test('a cancel before activation runs the compensations: no campaign, no state, no hold; the final state is returned', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    await ctx.withWorker(tq, async () => {
      const setup = await createCampaign(client, request(owner, { startsAt: inSeconds(3600), endsAt: inSeconds(7200) }));
      expect(setup.status).toBe('scheduled');
      expect((await balances(ctx.pool, owner)).debitsPending).toBe(10_000n);
      const final: CampaignProgress = await cancelCampaign(client, setup.campaignId, 'changed our mind');
      expect(final).toMatchObject({ status: 'cancelled', outcome: 'cancelled-before-activation' });
      expect(await handle(setup.campaignId).result()).toMatchObject({ outcome: 'cancelled-before-activation' });
      expect(await handle(setup.campaignId).query(sagaStatusQuery)).toMatchObject({
        status: 'COMPENSATED',
        compensationsRun: ['releaseCampaignBudget', 'cleanCampaignState', 'deleteCampaignRecord'],
      });
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [setup.campaignId])).toBe(0);
      expect(await count(ctx.pool, 'SELECT 1 FROM campaign_state WHERE campaign_id = $1', [setup.campaignId])).toBe(0);
      expect(await openHolds(setup.workflowId)).toBe(0);
      expect(await getCampaign(ctx.pool, setup.campaignId)).toMatchObject({ status: 'cancelled' });
      await expect(cancelCampaign(client, setup.campaignId)).rejects.toThrow(/already ended/);
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
  });

  test('a reward batch that would overspend, or break the per-user maximum, pays nothing', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const users = await Promise.all(Array.from({ length: 12 }, () => openUserAccount(ctx.pool)));
    const eur = await openUserAccount(ctx.pool, 'EUR');
    await ctx.withWorker(tq, async () => {
      const setup = await createCampaign(client, request(owner, { budget: '100.00' }));
      const id = setup.campaignId;
      // 12 × 10.00 = 120.00 > 100.00: refused as a whole.
      const over = users.map((accountId) => ({ accountId, amount: '10.00' }));
      await expect(payRewards(client, id, over)).rejects.toMatchObject({ type: 'InsufficientFunds' });
      await expect(payRewards(client, id, [{ accountId: users[0] as string, amount: '10.01' }])).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/rewards\.0\.amount.*per-user maximum/),
      });
      await expect(
        payRewards(client, id, [{ accountId: users[0] as string }, { accountId: randomUUID() }]),
      ).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/rewards\.1\.accountId/),
      });
      await expect(payRewards(client, id, [{ accountId: eur }])).rejects.toMatchObject({
        type: 'ValidationError',
        message: expect.stringMatching(/rewards\.0\.accountId.*EUR/),
      });
      await expect(payRewards(client, id, [{ accountId: users[0] as string, amount: '1.001' }])).rejects.toThrow(
        /rewards\.0\.amount/,
      );
      await expect(
        payRewards(client, id, [{ accountId: users[0] as string }, { accountId: users[0] as string }]),
      ).rejects.toThrow(/appears twice/);
      expect(await count(ctx.pool, 'SELECT 1 FROM campaign_rewards WHERE campaign_id = $1', [id])).toBe(0);
      for (const u of users) expect((await balances(ctx.pool, u)).balance).toBe(0n);
      expect(await getCampaign(ctx.pool, id)).toMatchObject({ spent: '0.00', status: 'active' });
      await cancelCampaign(client, id);
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
  });

  test('a running campaign is idempotent by id: starting it again joins the same workflow', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const r = request(owner, { campaignId: randomUUID() });
    await ctx.withWorker(tq, async () => {
      const first = await createCampaign(client, r);
      expect((await startCampaign(client, r)).started).toBe(false);
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE owner_account_id = $1', [owner])).toBe(1);
      expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE workflow_id = $1`, [first.workflowId])).toBe(1);
      await cancelCampaign(client, first.campaignId);
    });
  });

  test('a campaign the owner cannot fund fails validation and writes nothing', async () => {
    const tq = ctx.taskQueue();
    const owner = await fundedAccount(ctx.pool, 500n);
    await ctx.withWorker(tq, async () => {
      // Past the client's check: the workflow's own validate step refuses it.
      const id = randomUUID();
      const run = ctx.temporal.workflow.execute('createCampaign', {
        taskQueue: tq,
        workflowId: campaignWorkflowId(id),
        args: [{ campaignId: id, ownerAccountId: owner, name: 'too big', budget: '10000' }],
      });
      expect((await failureOf(run)).type).toBe('InsufficientFunds');
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [id])).toBe(0);
      expect(await handle(id).query(sagaStatusQuery)).toMatchObject({ status: 'FAILED', stepsDone: [] });
    });
  });
});
