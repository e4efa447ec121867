import type { Pool } from 'pg';
import { randomUUID } from 'node:crypto';
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

/** `n` empty user accounts in one statement (large reward batches). */
export async function openUserAccounts(pool: Pool, n: number, asset = 'USD'): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await pool.query(
    `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits)
     SELECT id, $2, 'user', 'reward recipient', true FROM unnest($1::uuid[]) AS id`,
    [ids, asset],
  );
  return ids;
}

export const GATED_STEPS = ['validate', 'record', 'state', 'reserve', 'activate', 'pay', 'close'] as const;
export type GatedStep = (typeof GATED_STEPS)[number];

/**
 * Holds one campaign's step before it runs, so a test can act while the step is in flight:
 * `reached` resolves when the worker got there, `open()` lets it run (the real activity).
 */
export class StepGate {
  readonly reached: Promise<void>;
  private arrive!: () => void;
  private release!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));
  constructor(
    readonly campaignId: string,
    readonly step: GatedStep,
  ) {
    this.reached = new Promise<void>((resolve) => (this.arrive = resolve));
  }
  open(): void {
    this.release();
  }
  private passed = false;
  /** Waits at the gate the first time the campaign reaches the step; later calls go through. */
  async pass(campaignId: unknown, step: GatedStep): Promise<void> {
    if (this.passed || campaignId !== this.campaignId || step !== this.step) return;
    this.passed = true;
    this.arrive();
    await this.released;
  }
}

/** Real campaign activities that wait at the gates given (for the campaign and step of each). */
export function gatedCampaignActivities(deps: { pool: Pool; logger: Logger }, gates: StepGate[]) {
  const real: Activities = createActivities(deps);
  const pass = async (campaignId: unknown, step: GatedStep) => {
    for (const gate of gates) await gate.pass(campaignId, step);
  };
  const idOf = (v: unknown) => (v && typeof v === 'object' ? (v as { campaignId?: unknown }).campaignId : undefined);
  type Input<K extends keyof Activities> = Parameters<Activities[K]>[0];
  return {
    async validateCampaign(raw: unknown) {
      await pass(idOf(raw), 'validate');
      return real.validateCampaign(raw);
    },
    async createCampaignRecord(plan: Input<'createCampaignRecord'>) {
      await pass(plan.campaignId, 'record');
      return real.createCampaignRecord(plan);
    },
    async initCampaignState(id: string) {
      await pass(id, 'state');
      return real.initCampaignState(id);
    },
    async reserveCampaignBudget(id: string) {
      await pass(id, 'reserve');
      return real.reserveCampaignBudget(id);
    },
    async activateCampaign(id: string) {
      await pass(id, 'activate');
      return real.activateCampaign(id);
    },
    async payCampaignRewards(i: Input<'payCampaignRewards'>) {
      await pass(i.campaignId, 'pay');
      return real.payCampaignRewards(i);
    },
    async closeCampaign(i: Input<'closeCampaign'>) {
      await pass(i.campaignId, 'close');
      return real.closeCampaign(i);
    },
  };
}
