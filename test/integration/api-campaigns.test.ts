import { randomUUID } from 'node:crypto';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { eventually, useTestContext } from '../helpers/context';
import { fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { balances, openUserAccount } from '../helpers/fixtures';
import { startTestApi, type ApiUnderTest } from './api-fixtures';

const ctx = useTestContext();
const idem = () => randomUUID();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const campaign = (owner: string, extra: Record<string, unknown> = {}) => ({
  workflow_type: 'campaign_creation',
  parameters: {
    ownerAccountId: owner,
    name: `api-${randomUUID().slice(0, 8)}`,
    budget: '100.00',
    rewardPerUser: '5.00',
    maxPerUser: '10.00',
    ...extra,
  },
});

describe('campaigns over HTTP', () => {
  let api: ApiUnderTest;
  let key: string;
  let tq: string;
  beforeAll(async () => {
    tq = ctx.taskQueue();
    api = await startTestApi(ctx, tq, { maxWaitSeconds: 60 });
    key = await api.key(['execute', 'read']);
  });
  afterAll(async () => api?.close());

  const post = (path: string, body?: unknown) => api.call('POST', path, { key, idempotencyKey: idem(), body });
  const status = async (workflowId: string) => (await api.call('GET', `status/${workflowId}`, { key })).body;

  test('a short campaign waited for runs to its end; the outcome shows amounts in human decimals and minor units', async () => {
    const owner = await fundedAccount(ctx.pool, 50_000n);
    await ctx.withWorker(tq, async () => {
      const r = await post('execute-workflow?wait=true', campaign(owner, { durationSeconds: 2 }));
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ workflowType: 'campaign_creation', started: true });
      expect(r.body.outcome).toMatchObject({
        status: 'COMPLETED',
        result: { outcome: 'completed', budget: '100.00', budgetMinor: '10000', released: '100.00', releasedMinor: '10000' },
      });
      expect(await status(r.body.workflowId)).toMatchObject({
        kind: 'campaign',
        state: 'COMPLETED',
        saga: { stepsDone: expect.arrayContaining(['record', 'state', 'reserve', 'activate', 'close']) },
        detail: { outcome: 'completed', spent: '0.00', spentMinor: '0' },
      });
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ balance: 50_000n, debitsPending: 0n });
  });

  test('an active campaign pays rewards by POST, a cancel ends it early; then both are refused', async () => {
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const alice = await openUserAccount(ctx.pool);
    const bob = await openUserAccount(ctx.pool);
    await ctx.withWorker(tq, async () => {
      const started = await post('execute-workflow', campaign(owner, { durationSeconds: 3600 }));
      expect(started.status).toBe(202);
      const workflowId: string = started.body.workflowId;
      await eventually(async () => (await status(workflowId)).detail?.status === 'active');
      const campaignId: string = (await status(workflowId)).detail.campaignId;

      const rewards = { rewards: [{ accountId: alice }, { accountId: bob, amount: '7.50' }] };
      const paid = await post(`campaigns/${campaignId}/rewards`, rewards);
      expect(paid.status).toBe(200);
      expect(paid.body).toMatchObject({
        paid: 2,
        amount: '12.50',
        amountMinor: '1250',
        remaining: '87.50',
        remainingMinor: '8750',
      });
      const number = await post(`campaigns/${campaignId}/rewards`, { rewards: [{ accountId: alice, amount: 5 }] });
      expect(number.status).toBe(422);
      expect(number.body.error.field).toBe('rewards.0.amount');

      const ended = await post(`campaigns/${campaignId}/cancel`, { reason: 'budget moved to summer' });
      expect(ended.status).toBe(200);
      expect(ended.body.campaign).toMatchObject({
        outcome: 'ended-early',
        spent: '12.50',
        spentMinor: '1250',
        released: '87.50',
        rewardsPaid: 2,
      });
      const again = await post(`campaigns/${campaignId}/cancel`);
      expect(again.status).toBe(409);
      expect(again.body.error).toMatchObject({ type: 'InvalidState' });
      expect(again.body.error.message).toMatch(/already ended/);
      const late = await post(`campaigns/${campaignId}/rewards`, { rewards: [{ accountId: alice }] });
      expect(late.status).toBe(409);
      expect(await status(workflowId)).toMatchObject({ status: 'COMPLETED', outcome: { result: { outcome: 'ended-early' } } });
    });
    expect((await balances(ctx.pool, bob)).balance).toBe(750n);
    expect(await balances(ctx.pool, owner)).toMatchObject({ balance: 48_750n, debitsPending: 0n });
  });

  test('a cancel before activation undoes the setup; an unknown campaign is 404', async () => {
    const owner = await fundedAccount(ctx.pool, 50_000n);
    const startsAt = new Date(Date.now() + 3_600_000).toISOString();
    await ctx.withWorker(tq, async () => {
      const started = await post('execute-workflow', campaign(owner, { startsAt }));
      const workflowId: string = started.body.workflowId;
      await eventually(async () => (await status(workflowId)).detail?.status === 'scheduled');
      const campaignId: string = (await status(workflowId)).detail.campaignId;
      const cancelled = await post(`campaigns/${campaignId}/cancel`, { reason: 'changed our mind' });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.campaign).toMatchObject({ status: 'cancelled', outcome: 'cancelled-before-activation' });
      expect(await status(workflowId)).toMatchObject({
        state: 'COMPENSATED',
        saga: { compensationsRun: ['releaseCampaignBudget', 'cleanCampaignState', 'deleteCampaignRecord'] },
        outcome: { status: 'COMPLETED', result: { outcome: 'cancelled-before-activation' } },
      });
    });
    expect(await balances(ctx.pool, owner)).toMatchObject({ balance: 50_000n, debitsPending: 0n });
    const missing = await post(`campaigns/${randomUUID()}/cancel`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ type: 'NotFound', field: 'campaignId' });
  });
});
