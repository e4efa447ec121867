/**
 * Records the campaign saga's histories for the replay tests. Not a test: run it with
 * `npm run record-histories` after a deliberate, versioned workflow change. Every path
 * asserts its outcome, so a recording of the wrong path fails instead of being saved.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { cancelCampaign, createCampaign, payRewards, type CampaignRequest } from '../../src/client/campaigns';
import { campaignWorkflowId } from '../../src/domain/campaign';
import { campaignProgressQuery, type createCampaign as campaignWorkflow } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { faultyCampaignActivities, fundedAccount, setCampaignDefaults, type InjectableStep } from '../helpers/campaign-fixtures';
import { openUserAccount } from '../helpers/fixtures';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

async function save(name: string, campaignId: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(campaignWorkflowId(campaignId)).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

test('record campaign histories', async () => {
  await setCampaignDefaults(ctx.pool);
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  const owner = await fundedAccount(ctx.pool, 100_000n);
  const user = await openUserAccount(ctx.pool);
  const faults = new Map<string, InjectableStep>();
  const request = (n: string, extra: Partial<CampaignRequest> = {}): CampaignRequest => ({
    campaignId: randomUUID(),
    ownerAccountId: owner,
    name: `replay-${n}-${randomUUID().slice(0, 6)}`,
    budget: '20.00',
    rewardPerUser: '2.00',
    ...extra,
  });
  const handle = (id: string) => ctx.temporal.workflow.getHandle<typeof campaignWorkflow>(campaignWorkflowId(id));
  const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

  await ctx.withWorker(
    tq,
    async () => {
      const immediate = await createCampaign(client, request('immediate', { durationSeconds: 3 }));
      await payRewards(client, immediate.campaignId, [{ accountId: user }]);
      expect(await handle(immediate.campaignId).result()).toMatchObject({ outcome: 'completed', spent: '200' });
      await save('campaign-immediate', immediate.campaignId);

      const scheduled = await createCampaign(client, request('scheduled', { startsAt: inSeconds(2), durationSeconds: 1 }));
      expect(scheduled.status).toBe('scheduled');
      expect(await handle(scheduled.campaignId).result()).toMatchObject({ outcome: 'completed' });
      await save('campaign-scheduled', scheduled.campaignId);

      const before = await createCampaign(client, request('cancel-before', { startsAt: inSeconds(3600) }));
      expect(await cancelCampaign(client, before.campaignId, 'replay')).toMatchObject({ outcome: 'cancelled-before-activation' });
      await save('campaign-cancel-before', before.campaignId);

      const after = await createCampaign(client, request('cancel-after'));
      await payRewards(client, after.campaignId, [{ accountId: user }]);
      await eventually(async () => (await handle(after.campaignId).query(campaignProgressQuery)).rewardsPaid === 1);
      expect(await cancelCampaign(client, after.campaignId, 'replay')).toMatchObject({ outcome: 'ended-early', spent: '200' });
      await save('campaign-cancel-after', after.campaignId);

      // A workflow cancel (not the update) after activation: answered, the campaign closes (patched).
      const cancelled = await createCampaign(client, request('workflow-cancel'));
      await payRewards(client, cancelled.campaignId, [{ accountId: user }]);
      await handle(cancelled.campaignId).cancel();
      expect(await handle(cancelled.campaignId).result()).toMatchObject({ outcome: 'ended-early', spent: '200' });
      await save('campaign-workflow-cancel', cancelled.campaignId);

      const failing = request('compensated');
      faults.set(failing.campaignId as string, 'reserve');
      const err = await createCampaign(client, failing).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      await save('campaign-compensated', failing.campaignId as string);
    },
    { extraActivities: faultyCampaignActivities({ pool: ctx.pool, logger: ctx.logger }, faults) },
  );
});
