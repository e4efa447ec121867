/**
 * A small, realistic unversioned change: the siphon reads the campaign defaults before it
 * boots (one activity added, everything else the real code). Replay must notice.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import { configSiphon as current } from '../../../src/workflows/config-siphon';
import type { ConfigSiphonInput, SiphonSummary } from '../../../src/workflows/config-siphon-messages';

const acts = proxyActivities<Activities>({ startToCloseTimeout: '1 minute' });

export async function configSiphon(input: ConfigSiphonInput = {}): Promise<SiphonSummary> {
  await acts.readCampaignDefaults();
  return current(input);
}
