import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { cancelCampaign, createCampaign, startCampaign, type CampaignRequest } from '../../src/client/campaigns';
import { checkCampaignInvariants } from '../../src/db/invariants-campaign';
import { campaignHoldKey, campaignWorkflowId } from '../../src/domain/campaign';
import { sagaStatusQuery, type createCampaign as campaignWorkflow } from '../../src/workflows';
import { useTestContext } from '../helpers/context';
import { faultyCampaignActivities, fundedAccount, setCampaignDefaults } from '../helpers/campaign-fixtures';
import { balances, count } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const handle = (campaignId: string) => ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(campaignId));
const request = (owner: string, extra: Partial<CampaignRequest> = {}): CampaignRequest => ({
  campaignId: randomUUID(),
  ownerAccountId: owner,
  name: `fence-${randomUUID().slice(0, 8)}`,
  budget: '100.00',
  ...extra,
});

async function typeOf(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return (err as { type?: string } | undefined)?.type;
}

describe('late steps after their compensation', () => {
  test('an abandoned record, state, reserve or activate that commits after the compensations ran does nothing', async () => {
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const acts = createActivities({ pool: ctx.pool, logger: ctx.logger });
    const campaignId = randomUUID();
    const workflowId = campaignWorkflowId(campaignId);
    const plan = await acts.validateCampaign({ campaignId, ownerAccountId: owner, name: 'abandoned', budget: '10000' });
    // The saga gave up on the first attempts and undid them (in reverse), before any of them ran.
    await acts.releaseHold({ holdIdempotencyKey: campaignHoldKey(workflowId) });
    await acts.cleanCampaignState(campaignId);
    await acts.deleteCampaignRecord({ campaignId, reason: 'setup timed out' });
    // Now the abandoned attempts arrive, each in its own transaction.
    expect(await typeOf(acts.createCampaignRecord(plan))).toBe('InvalidState');
    expect(await typeOf(acts.initCampaignState(campaignId))).toBe('InvalidState');
    expect(await typeOf(acts.reserveCampaignBudget(campaignId))).toBe('InvalidState');
    expect(await typeOf(acts.activateCampaign(campaignId))).toBe('InvalidState');
    expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [campaignId])).toBe(0);
    expect(await count(ctx.pool, 'SELECT 1 FROM campaign_state WHERE campaign_id = $1', [campaignId])).toBe(0);
    expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE workflow_id = $1', [workflowId])).toBe(0);
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
  });

  test('a record attempt racing its own compensation: whichever commits first, nothing is left', async () => {
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const acts = createActivities({ pool: ctx.pool, logger: ctx.logger });
    for (let i = 0; i < 10; i++) {
      const campaignId = randomUUID();
      const plan = await acts.validateCampaign({ campaignId, ownerAccountId: owner, name: `race-${i}`, budget: '100' });
      const record = acts.createCampaignRecord(plan).then(
        () => 'recorded',
        (e: { type?: string }) => e.type,
      );
      await acts.deleteCampaignRecord({ campaignId, reason: 'raced' });
      expect(['recorded', 'InvalidState']).toContain(await record);
      // A record that won the race was deleted by the compensation after it; one that lost found the tombstone.
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [campaignId])).toBe(0);
    }
  });
});

describe('a schedule that passed while nobody ran the saga', () => {
  test('a start already past when the worker picks the saga up activates at once and completes at its end', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const r = request(owner, { startsAt: inSeconds(1), endsAt: inSeconds(5) });
    await startCampaign(client, r);
    await sleep(2000); // no worker yet: the start passes
    const result = await ctx.withWorker(tq, () => handle(r.campaignId as string).result());
    expect(result).toMatchObject({ status: 'completed', outcome: 'completed', spent: '0', released: '10000' });
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
  });

  test('a whole window already past when the worker picks the saga up fails validation naming endsAt, and writes nothing', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const r = request(owner, { startsAt: inSeconds(1), endsAt: inSeconds(2) });
    await startCampaign(client, r);
    await sleep(3000);
    const err = await ctx.withWorker(tq, () => handle(r.campaignId as string).result()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toMatchObject({ type: 'ValidationError', message: expect.stringMatching(/endsAt: .* is in the past/) });
    expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [r.campaignId])).toBe(0);
  });
});

describe('the saga under the least-privilege application role', () => {
  test('a worker connected as txmgr_app creates, compensates and cancels campaigns: its inverses may delete what they must', async () => {
    const role = `t_campaign_${randomUUID().slice(0, 8)}`;
    await ctx.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-secret' IN ROLE txmgr_app`);
    const url = new URL(ctx.databaseUrl);
    url.username = role;
    url.password = 'app-secret';
    const appPool = new Pool({ connectionString: url.toString(), max: 8 });
    try {
      const tq = ctx.taskQueue();
      const client = { temporal: ctx.temporal, pool: appPool, taskQueue: tq };
      const owner = await fundedAccount(ctx.pool, 20_000n);
      const faulty = request(owner);
      const faults = new Map([[faulty.campaignId as string, 'reserve' as const]]);
      await ctx.withWorker(
        tq,
        async () => {
          const err = await createCampaign(client, faulty).catch((e: unknown) => e);
          expect((err as WorkflowFailedError).cause).toMatchObject({ type: 'InjectedFault' });
          expect(await handle(faulty.campaignId as string).query(sagaStatusQuery)).toMatchObject({ status: 'COMPENSATED' });
          const later = await createCampaign(client, request(owner, { startsAt: inSeconds(3600), endsAt: inSeconds(7200) }));
          expect(await cancelCampaign(client, later.campaignId)).toMatchObject({ outcome: 'cancelled-before-activation' });
        },
        { pool: appPool, extraActivities: faultyCampaignActivities({ pool: appPool, logger: ctx.logger }, faults) },
      );
      expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE owner_account_id = $1', [owner])).toBe(0);
      expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
    } finally {
      await appPool.end();
      await ctx.pool.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });
});
