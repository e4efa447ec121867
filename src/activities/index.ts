import type { ActivityDeps } from './deps';
import { createCampaignActivities } from './campaign';
import { createConfigActivities } from './config';
import { createDepositActivities } from './deposit';
import { createLedgerActivities } from './ledger';
import { createTransactionActivities } from './transaction';
import { createTradeActivities } from './trade';
import { createWithdrawalActivities } from './withdrawal';

export type { ActivityDeps } from './deps';

/** Every activity the worker registers, wired to its dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createLedgerActivities(deps),
    ...createDepositActivities(deps),
    ...createConfigActivities(deps),
    ...createTransactionActivities(deps),
    ...createTradeActivities(deps),
    ...createWithdrawalActivities(deps),
    ...createCampaignActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
