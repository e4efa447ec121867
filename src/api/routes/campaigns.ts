import { z } from 'zod';
import { cancelCampaign, getCampaign, payRewards, RewardRequest } from '../../client/campaigns';
import { campaignWorkflowId } from '../../domain/campaign';
import { uuid } from '../../domain/schemas';
import { type ApiApp, type ApiDeps, statusUrl } from '../context';
import { ErrorBodySchema, ReasonBody } from '../schemas';
import { readableCampaign, readableRewards } from '../workflow-kinds';

const Params = z.object({ campaignId: uuid.describe('the campaign id') }).strict();

const human = (what: string) => z.string().describe(`${what}, human decimal in the campaign's asset`);
const minor = (what: string) => z.string().describe(`${what} in minor units`);

const CampaignSchema = z
  .object({
    campaignId: z.string(),
    workflowId: z.string(),
    status: z.string(),
    outcome: z.enum(['completed', 'ended-early', 'cancelled-before-activation', 'compensated']).optional(),
    asset: z.string().optional(),
    budget: human('budget').optional(),
    budgetMinor: minor('budget').optional(),
    spent: human('spent'),
    spentMinor: minor('spent').optional(),
    released: human('released to the owner'),
    releasedMinor: minor('released').optional(),
    rewardsPaid: z.number(),
    startsAt: z.string().optional(),
    endsAt: z.string().optional(),
    failure: z.string().optional(),
  })
  .describe("the campaign's final state");

const CancelResponse = z.object({ campaign: CampaignSchema, statusUrl: z.string() });

const RewardsBody = z
  .object({
    rewards: RewardRequest,
    batchId: z.string({ error: 'batchId must be a string' }).optional().describe('default: a digest of the batch'),
  })
  .strict();

const RewardsResponse = z.object({
  campaignId: z.string(),
  batchId: z.string(),
  paid: z.number().describe('rewards this batch paid now'),
  alreadyPaid: z.number().describe('rewards an earlier attempt of the same batch paid'),
  amount: human('paid by this batch'),
  amountMinor: minor('paid by this batch'),
  spent: human('paid by the campaign so far'),
  spentMinor: minor('spent'),
  remaining: human('budget left'),
  remainingMinor: minor('remaining'),
});

const refusals = { 404: ErrorBodySchema, 409: ErrorBodySchema, 422: ErrorBodySchema };

/** POST /campaigns/{campaignId}/cancel and /rewards: the campaign saga's cancel and reward-payment updates. */
export function campaignRoutes(app: ApiApp, deps: ApiDeps): void {
  const { client } = deps;
  app.post(
    '/campaigns/:campaignId/cancel',
    {
      config: { scope: 'execute' },
      schema: {
        summary:
          'cancel a campaign: before activation its setup is undone (budget released, record deleted); after activation it ends early, releasing what was not spent',
        params: Params,
        body: ReasonBody,
        response: { 200: CancelResponse, ...refusals },
      },
    },
    async (request) => {
      const { campaignId } = request.params;
      request.auditTarget = campaignWorkflowId(campaignId);
      const final = await cancelCampaign(client, campaignId, request.body?.reason);
      return { campaign: await readableCampaign(client, final), statusUrl: statusUrl(final.workflowId) };
    },
  );

  app.post(
    '/campaigns/:campaignId/rewards',
    {
      config: { scope: 'execute' },
      schema: {
        summary:
          'pay a batch of rewards (human decimals of the campaign asset) in one atomic transaction; the same batch pays once',
        params: Params,
        body: RewardsBody,
        response: { 200: RewardsResponse, ...refusals },
      },
    },
    async (request) => {
      const { campaignId } = request.params;
      request.auditTarget = campaignWorkflowId(campaignId);
      const result = await payRewards(client, campaignId, request.body.rewards, { batchId: request.body.batchId });
      const { asset } = await getCampaign(client.pool, campaignId);
      return readableRewards(client, asset ?? '', result);
    },
  );
}
