import type { Pool } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities, type Activities } from '../../src/activities';
import { postTransfer } from '../../src/db/ledger';
import { upsertCampaignDefaults } from '../../src/db/queries/config-areas';
import { withTransaction } from '../../src/db/transaction';
import { transferIdFor } from '../../src/domain/ids';
import type { Logger } from '../../src/logger';
import { houseAccount, openUserAccount } from './fixtures';

/** The campaign config the tests run under (what the siphon would apply): budgets in USD. */
export const TEST_CAMPAIGN_DEFAULTS = {
  budgetAsset: 'USD',
  maxBudget: '10000000', // 100,000.00 USD
  defaultDurationDays: 30,
  maxRewardPerUser: '5000', // 50.00 USD
  activationDelaySeconds: 0,
};

export async function setCampaignDefaults(pool: Pool): Promise<void> {
  await withTransaction(pool, 'testCampaignDefaults', (tx) => upsertCampaignDefaults(tx, TEST_CAMPAIGN_DEFAULTS, 1));
}

/** A user account funded from the external bank, through the ledger (so the books balance). */
export async function fundedAccount(pool: Pool, minor: bigint, asset = 'USD'): Promise<string> {
  const id = await openUserAccount(pool, asset);
  const bank = await houseAccount(pool, asset, 'external_bank');
  await withTransaction(pool, 'testFund', (tx) =>
    postTransfer(tx, { id: transferIdFor(`test-fund:${id}`), debitAccountId: bank, creditAccountId: id, asset, amount: minor }),
  );
  return id;
}

export const INJECTABLE_STEPS = ['record', 'state', 'reserve', 'activate'] as const;
export type InjectableStep = (typeof INJECTABLE_STEPS)[number];

/**
 * Real activities with a fault injected after the step took effect (the hardest case for a
 * compensation): the campaigns named in `faults` fail that step non-retryably.
 */
export function faultyCampaignActivities(deps: { pool: Pool; logger: Logger }, faults: Map<string, InjectableStep>) {
  const real: Activities = createActivities(deps);
  const fault = (campaignId: string, step: InjectableStep) => {
    if (faults.get(campaignId) === step) {
      throw ApplicationFailure.create({ type: 'InjectedFault', message: `injected fault after ${step}`, nonRetryable: true });
    }
  };
  return {
    createCampaignRecord: async (plan: Parameters<Activities['createCampaignRecord']>[0]) => {
      const r = await real.createCampaignRecord(plan);
      fault(plan.campaignId, 'record');
      return r;
    },
    initCampaignState: async (id: string) => {
      await real.initCampaignState(id);
      fault(id, 'state');
    },
    reserveCampaignBudget: async (id: string) => {
      const r = await real.reserveCampaignBudget(id);
      fault(id, 'reserve');
      return r;
    },
    activateCampaign: async (id: string) => {
      const r = await real.activateCampaign(id);
      fault(id, 'activate');
      return r;
    },
  };
}
