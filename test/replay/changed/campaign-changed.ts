/** The campaign saga rewritten: the budget reserved right after validation, before the record exists. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { CampaignInput } from '../../../src/domain/campaign';

const acts = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds' });

export async function createCampaign(input: CampaignInput): Promise<void> {
  const plan = await acts.validateCampaign(input);
  await acts.reserveCampaignBudget(plan.campaignId);
  await acts.createCampaignRecord(plan);
}
