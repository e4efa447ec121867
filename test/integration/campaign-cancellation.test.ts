import { randomUUID } from 'node:crypto';
import { WorkflowUpdateStage } from '@temporalio/client';
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
import {
  campaignProgressQuery,
  cancelCampaignUpdate,
  sagaStatusQuery,
  type createCampaign as campaignWorkflow,
} from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import {
  fundedAccount,
  gatedCampaignActivities,
  openUserAccounts,
  setCampaignDefaults,
  StepGate,
  type GatedStep,
} from '../helpers/campaign-fixtures';
import { balances, count } from '../helpers/fixtures';

const ctx = useTestContext();
beforeAll(() => setCampaignDefaults(ctx.pool));
afterEach(async () => expect(await checkCampaignInvariants(ctx.pool)).toEqual([]));

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const request = (owner: string, extra: Partial<CampaignRequest> = {}): CampaignRequest => ({
  campaignId: randomUUID(),
  ownerAccountId: owner,
  name: `cancel-${randomUUID().slice(0, 8)}`,
  budget: '100.00',
  rewardPerUser: '10.00',
  maxPerUser: '10.00',
  ...extra,
});
const handle = (campaignId: string) => ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(campaignId));
const openHolds = (campaignId: string) =>
  count(ctx.pool, `SELECT 1 FROM holds WHERE workflow_id = $1 AND status = 'open'`, [campaignWorkflowId(campaignId)]);

/** Nothing of the campaign is left but its tombstone, and the owner has every minor unit back. */
async function expectUndone(campaignId: string, owner: string, funded: bigint): Promise<void> {
  expect(await count(ctx.pool, 'SELECT 1 FROM campaigns WHERE id = $1', [campaignId])).toBe(0);
  expect(await count(ctx.pool, 'SELECT 1 FROM campaign_state WHERE campaign_id = $1', [campaignId])).toBe(0);
  expect(await openHolds(campaignId)).toBe(0);
  expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: funded });
}

describe('cancelling a campaign while a step runs', () => {
  test.each<[GatedStep]>([['validate'], ['record'], ['state'], ['reserve']])(
    'a cancel while %s runs undoes the setup once the step is done: COMPENSATED, nothing left',
    async (step) => {
      const tq = ctx.taskQueue();
      const client = ctx.client(tq);
      const owner = await fundedAccount(ctx.pool, 20_000n);
      const r = request(owner);
      const gate = new StepGate(r.campaignId as string, step);
      await ctx.withWorker(
        tq,
        async () => {
          await startCampaign(client, r);
          await gate.reached;
          const cancelled = cancelCampaign(client, r.campaignId as string, 'stop during setup');
          // The update is in the workflow before the step is let go.
          await eventually(async () => (await handle(r.campaignId as string).describe()).historyLength > 0);
          await new Promise((resolve) => setTimeout(resolve, 500));
          gate.open();
          const final: CampaignProgress = await cancelled;
          expect(final).toMatchObject({ status: 'cancelled', outcome: 'cancelled-before-activation' });
          expect(await handle(r.campaignId as string).query(sagaStatusQuery)).toMatchObject({ status: 'COMPENSATED' });
        },
        { extraActivities: gatedCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, [gate]) },
      );
      await expectUndone(r.campaignId as string, owner, 20_000n);
    },
  );

  test('a cancel racing activation (activate already running) ends the campaign early: activated, then closed with the whole budget released', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const r = request(owner, { startsAt: inSeconds(1), endsAt: inSeconds(3600) });
    const id = r.campaignId as string;
    const gate = new StepGate(id, 'activate');
    await ctx.withWorker(
      tq,
      async () => {
        await startCampaign(client, r);
        await gate.reached;
        const cancelled = cancelCampaign(client, id, 'stop at the start');
        await new Promise((resolve) => setTimeout(resolve, 500));
        gate.open();
        expect(await cancelled).toMatchObject({ status: 'cancelled', outcome: 'ended-early', spent: '0', released: '10000' });
        expect(await handle(id).query(sagaStatusQuery)).toMatchObject({
          status: 'COMPLETED',
          stepsDone: ['validate', 'record', 'state', 'reserve', 'activate', 'close'],
        });
      },
      { extraActivities: gatedCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, [gate]) },
    );
    expect(await getCampaign(ctx.pool, id)).toMatchObject({ status: 'cancelled', spent: '0.00', released: '100.00' });
    expect(await openHolds(id)).toBe(0);
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 20_000n });
  });
});

describe('reward batches racing the end of a campaign', () => {
  test('a batch in flight when the cancel arrives is paid before the campaign closes; a batch after that is refused', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const recipients = await openUserAccounts(ctx.pool, 4);
    const r = request(owner);
    const id = r.campaignId as string;
    const gate = new StepGate(id, 'pay');
    await ctx.withWorker(
      tq,
      async () => {
        await createCampaign(client, r);
        const paying = payRewards(
          client,
          id,
          recipients.slice(0, 3).map((accountId) => ({ accountId })),
        );
        await gate.reached;
        // Accepted: the campaign now waits for the batch in flight and takes no other.
        const cancelled = await handle(id).startUpdate(cancelCampaignUpdate, {
          args: [{ reason: 'ended while paying' }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        await expect(payRewards(client, id, [{ accountId: recipients[3] as string }])).rejects.toThrow(
          /closing; rewards are paid only while it is active/,
        );
        gate.open();
        expect(await paying).toMatchObject({ paid: 3, amount: '3000' });
        expect(await cancelled.result()).toMatchObject({
          outcome: 'ended-early',
          spent: '3000',
          released: '7000',
          rewardsPaid: 3,
        });
      },
      { extraActivities: gatedCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, [gate]) },
    );
    expect((await balances(ctx.pool, recipients[3] as string)).balance).toBe(0n);
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 17_000n });
  });

  test('a batch in flight when the workflow itself is cancelled is still paid and answered, then the campaign ends early', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const recipients = await openUserAccounts(ctx.pool, 2);
    const r = request(owner);
    const id = r.campaignId as string;
    const gate = new StepGate(id, 'pay');
    await ctx.withWorker(
      tq,
      async () => {
        await createCampaign(client, r);
        const paying = payRewards(
          client,
          id,
          recipients.map((accountId) => ({ accountId })),
        );
        await gate.reached;
        await handle(id).cancel();
        await new Promise((resolve) => setTimeout(resolve, 500));
        gate.open();
        expect(await paying).toMatchObject({ paid: 2, amount: '2000' });
        expect(await handle(id).result()).toMatchObject({ outcome: 'ended-early', spent: '2000', released: '8000' });
      },
      { extraActivities: gatedCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, [gate]) },
    );
    for (const u of recipients) expect((await balances(ctx.pool, u)).balance).toBe(1000n);
    expect(await balances(ctx.pool, owner)).toMatchObject({ debitsPending: 0n, balance: 18_000n });
  });

  test('batches sent until the scheduled end: each is paid in full or refused in full, and the close releases exactly the rest', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 200_000n);
    const r = request(owner, { budget: '1000.00', rewardPerUser: '1.00', maxPerUser: '1.00', durationSeconds: 3 });
    const id = r.campaignId as string;
    await ctx.withWorker(tq, async () => {
      await createCampaign(client, r);
      const outcomes: Array<{ paid: number } | { refused: string }> = [];
      // Two senders at once, until the campaign refuses: the last batches race the close.
      await Promise.all(
        [0, 1].map(async () => {
          for (;;) {
            const batch = (await openUserAccounts(ctx.pool, 3)).map((accountId) => ({ accountId }));
            const outcome = await payRewards(client, id, batch).then(
              (p) => ({ paid: p.paid }),
              (e: Error) => ({ refused: e.message }),
            );
            outcomes.push(outcome);
            if ('refused' in outcome) return;
          }
        }),
      );
      for (const o of outcomes.filter((x) => 'refused' in x)) {
        expect(o.refused).toMatch(/closing|completed|already ended|only while it is active/);
      }
      const paid = outcomes.reduce((n, o) => n + ('paid' in o ? o.paid : 0), 0);
      expect(outcomes.every((o) => !('paid' in o) || o.paid === 3)).toBe(true);
      const result = await handle(id).result();
      expect(result).toMatchObject({ outcome: 'completed', spent: String(paid * 100), released: String(100_000 - paid * 100) });
      expect(await count(ctx.pool, 'SELECT 1 FROM campaign_rewards WHERE campaign_id = $1', [id])).toBe(paid);
    });
    expect(await openHolds(id)).toBe(0);
  });

  test('a progress query during setup and after the end tells the same story as the database', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const owner = await fundedAccount(ctx.pool, 20_000n);
    const r = request(owner, { startsAt: inSeconds(3600), endsAt: inSeconds(7200) });
    const id = r.campaignId as string;
    await ctx.withWorker(tq, async () => {
      const setup = await createCampaign(client, r);
      expect(setup.status).toBe('scheduled');
      expect(await handle(id).query(campaignProgressQuery)).toMatchObject({ status: 'scheduled', budget: '10000' });
      await cancelCampaign(client, id);
      expect(await handle(id).query(campaignProgressQuery)).toMatchObject({
        status: 'cancelled',
        outcome: 'cancelled-before-activation',
      });
    });
    await expectUndone(id, owner, 20_000n);
  });
});
