import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';

const acts = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

/** The siphon with its boot step changed (it reads campaign defaults first): replay must notice. */
export async function configSiphon(): Promise<void> {
  await acts.readCampaignDefaults();
  await acts.loadSiphonPosition();
}
