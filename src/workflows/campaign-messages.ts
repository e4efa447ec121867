import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { CampaignProgress, PayRewardsInput, PayRewardsResult } from '../domain/campaign';

/** The campaign workflow's messages: what a client may ask of a running campaign. */
export const campaignProgressQuery = defineQuery<CampaignProgress>('campaignProgress');
/** Answers once setup is over: the campaign scheduled or active, or its setup undone. */
export const campaignSetupUpdate = defineUpdate<CampaignProgress>('campaignSetup');
/** Before activation: undoes the setup (compensations). After: ends the campaign early. Returns the final state. */
export const cancelCampaignUpdate = defineUpdate<CampaignProgress, [{ reason?: string }]>('cancelCampaign');
/** Pays one reward batch atomically from the campaign's hold; only while active. */
export const payRewardsUpdate = defineUpdate<PayRewardsResult, [PayRewardsInput]>('payRewards');
