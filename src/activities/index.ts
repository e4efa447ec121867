import type { ActivityDeps } from './deps';
import { createCampaignActivities } from './campaign';
import { createConfigActivities } from './config';
import { createDepositActivities } from './deposit';
import { createLedgerActivities } from './ledger';

export type { ActivityDeps } from './deps';

/** Every activity the worker registers, wired to its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createLedgerActivities(deps),
    ...createDepositActivities(deps),
    ...createConfigActivities(deps),
    ...createCampaignActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
