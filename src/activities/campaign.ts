import type { PoolClient } from 'pg';
import { cleanReason } from '../domain/config-text';
import { campaignHoldKey, CampaignInput, type CampaignPlan } from '../domain/campaign';
import { DomainError, validationError } from '../domain/errors';
import { holdIdFor } from '../domain/ids';
import { formatAmount } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { placeHold, releaseHold } from '../db/ledger';
import { findAccount, findHouseAccount } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import {
  countCampaignRewards,
  deleteCampaign,
  deleteCampaignState,
  findCampaignByOwnerName,
  findCampaignState,
  findCampaignTombstone,
  insertCampaign,
  insertCampaignState,
  insertCampaignTombstone,
  lockCampaign,
  lockCampaignId,
  updateCampaignState,
  updateCampaignStatus,
  type CampaignRow,
} from '../db/queries/campaigns';
import { findCampaignDefaults } from '../db/queries/config-areas';
import { transactional } from './boundary';
import { createCampaignRewardActivities } from './campaign-rewards';
import type { ActivityDeps } from './deps';

/** The campaign, locked; a missing one (never recorded, or undone) fails the late attempt, which then writes nothing. */
async function lockLiveCampaign(tx: PoolClient, campaignId: string, step: string): Promise<CampaignRow> {
  await lockCampaignId(tx, campaignId);
  const campaign = await lockCampaign(tx, campaignId);
  if (campaign) return campaign;
  const tomb = await findCampaignTombstone(tx, campaignId);
  throw new DomainError(
    'InvalidState',
    tomb
      ? `campaign ${campaignId} was undone (${tomb.reason}); this late ${step} does nothing`
      : `campaign ${campaignId} does not exist`,
    { campaignId },
  );
}

/** Resolves the request against the campaign config and the ledger; writes nothing. */
export async function planCampaign(tx: PoolClient, raw: unknown, now: Date): Promise<CampaignPlan> {
  const parsed = CampaignInput.safeParse(raw);
  if (!parsed.success)
    throw validationError(`invalid campaign: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  const input = parsed.data;
  const config = await findCampaignDefaults(tx);
  if (!config) {
    throw new DomainError('InvalidState', 'no campaign config yet: submit campaigns.defaults through the config siphon first');
  }
  const asset = input.asset ?? config.budget_asset;
  const scale = await findAssetScale(tx, asset);
  if (scale === undefined) throw validationError(`asset: unknown asset "${asset}"`, { field: 'asset' });
  if (asset !== config.budget_asset) {
    throw validationError(`asset: campaigns are budgeted in ${config.budget_asset} (campaign config), not ${asset}`, {
      field: 'asset',
    });
  }
  const human = (v: bigint | string) => `${formatAmount(BigInt(v), scale)} ${asset}`;
  const budget = BigInt(input.budget);
  if (budget > BigInt(config.max_budget)) {
    throw validationError(`budget: ${human(budget)} is over the configured maximum of ${human(config.max_budget)}`, {
      field: 'budget',
    });
  }
  const configMax = BigInt(config.max_reward_per_user);
  const maxPerUser = input.maxPerUser ? BigInt(input.maxPerUser) : configMax < budget ? configMax : budget;
  if (maxPerUser > configMax) {
    throw validationError(`maxPerUser: ${human(maxPerUser)} is over the configured maximum reward of ${human(configMax)}`, {
      field: 'maxPerUser',
    });
  }
  if (maxPerUser > budget)
    throw validationError(`maxPerUser: ${human(maxPerUser)} is more than the budget`, { field: 'maxPerUser' });
  const rewardPerUser = input.rewardPerUser ? BigInt(input.rewardPerUser) : maxPerUser;
  if (rewardPerUser > maxPerUser) {
    throw validationError(`rewardPerUser: ${human(rewardPerUser)} is over the per-user maximum of ${human(maxPerUser)}`, {
      field: 'rewardPerUser',
    });
  }
  const owner = await findAccount(tx, input.ownerAccountId);
  if (!owner || owner.kind !== 'user') {
    throw validationError(`ownerAccountId: no user account ${input.ownerAccountId}`, { field: 'ownerAccountId' });
  }
  if (owner.asset !== asset) {
    throw validationError(`ownerAccountId: account ${owner.id} holds ${owner.asset}, not ${asset}`, { field: 'ownerAccountId' });
  }
  const available = BigInt(owner.credits_posted) - BigInt(owner.debits_posted) - BigInt(owner.debits_pending);
  const existing = await findCampaignByOwnerName(tx, owner.id, input.name);
  if (existing && existing.id !== input.campaignId) {
    throw validationError(`name: the owner already has a campaign named "${existing.name}"`, { field: 'name' });
  }
  if (!existing && available < budget) {
    throw new DomainError(
      'InsufficientFunds',
      `budget: account ${owner.id} has ${human(available)} available, ${human(budget)} needed`,
      {
        field: 'budget',
      },
    );
  }
  const startsAt = input.startsAt ? new Date(input.startsAt) : new Date(now.getTime() + config.activation_delay_seconds * 1000);
  const endsAt = input.endsAt
    ? new Date(input.endsAt)
    : new Date(startsAt.getTime() + (input.durationSeconds ?? config.default_duration_days * 86_400) * 1000);
  if (endsAt <= now) throw validationError(`endsAt: ${endsAt.toISOString()} is in the past`, { field: 'endsAt' });
  if (endsAt <= startsAt) throw validationError('endsAt: the schedule ends before it starts', { field: 'endsAt' });
  return {
    campaignId: input.campaignId,
    ownerAccountId: owner.id,
    name: input.name,
    type: input.type,
    asset,
    budget: budget.toString(),
    rewardPerUser: rewardPerUser.toString(),
    maxPerUser: maxPerUser.toString(),
    startsAt: startsAt.toISOString(),
    endsAt: endsAt.toISOString(),
    configVersion: config.config_version,
  };
}

export function createCampaignActivities(deps: ActivityDeps) {
  const now = () => deps.clock?.() ?? new Date();
  return {
    validateCampaign: transactional(deps, 'validateCampaign', (raw: unknown, tx) => planCampaign(tx, raw, now())),

    /** Records the campaign as a draft, once per id; a tombstoned id (creation undone) records nothing. */
    createCampaignRecord: transactional(deps, 'createCampaignRecord', async (plan: CampaignPlan, tx, scope) => {
      await lockCampaignId(tx, plan.campaignId);
      const tomb = await findCampaignTombstone(tx, plan.campaignId);
      if (tomb)
        throw new DomainError('InvalidState', `campaign ${plan.campaignId} was undone (${tomb.reason}); nothing recorded`);
      const workflowId = scope.workflowId ?? `campaign-${plan.campaignId}`;
      const inserted = await insertCampaign(tx, plan, workflowId);
      if (inserted) return { campaignId: inserted.id, created: true };
      const existing = await lockCampaign(tx, plan.campaignId);
      if (existing && existing.workflow_id === workflowId) return { campaignId: existing.id, created: false };
      if (existing)
        throw new DomainError('IdempotencyConflict', `campaign ${plan.campaignId} belongs to ${existing.workflow_id}`);
      throw validationError(`name: the owner already has a campaign named "${plan.name}"`, { field: 'name' });
    }),

    /**
     * The inverse of record and state, fenced: in one transaction it deletes the state and the
     * record and leaves a tombstone, so a late record, state or reserve attempt finds nothing to do.
     */
    deleteCampaignRecord: transactional(
      deps,
      'deleteCampaignRecord',
      async (i: { campaignId: string; reason: string }, tx, scope) => {
        await lockCampaignId(tx, i.campaignId);
        const campaign = await lockCampaign(tx, i.campaignId);
        if (campaign && (await countCampaignRewards(tx, i.campaignId)) > 0) {
          throw new DomainError('InvalidState', `campaign ${i.campaignId} has paid rewards; an operator must decide`);
        }
        const stateDeleted = await deleteCampaignState(tx, i.campaignId);
        const deleted = await deleteCampaign(tx, i.campaignId);
        await insertCampaignTombstone(tx, {
          campaignId: i.campaignId,
          workflowId: campaign?.workflow_id ?? scope.workflowId ?? 'unknown',
          reason: cleanReason(i.reason),
        });
        return { deleted, stateDeleted };
      },
    ),

    initCampaignState: transactional(deps, 'initCampaignState', async (campaignId: string, tx) => {
      const campaign = await lockLiveCampaign(tx, campaignId, 'state initialisation');
      await insertCampaignState(tx, campaignId);
      if (campaign.status === 'draft') await updateCampaignStatus(tx, campaignId, 'pending');
    }),

    /** Clean-up of the state; a no-op once the campaign is live (its state is then the record of what was paid). */
    cleanCampaignState: transactional(deps, 'cleanCampaignState', async (campaignId: string, tx) => {
      await lockCampaignId(tx, campaignId);
      const state = await findCampaignState(tx, campaignId);
      if (!state || state.phase === 'active' || state.phase === 'closed') return { deleted: false };
      return { deleted: await deleteCampaignState(tx, campaignId) };
    }),

    /** Reserves the budget: a hold from the owner's account towards the campaign_budget house account. */
    reserveCampaignBudget: transactional(deps, 'reserveCampaignBudget', async (campaignId: string, tx, scope) => {
      const campaign = await lockLiveCampaign(tx, campaignId, 'reservation');
      const house = await findHouseAccount(tx, campaign.asset, 'campaign_budget');
      if (!house) throw new Error(`no campaign_budget house account for ${campaign.asset}`);
      const key = campaignHoldKey(campaign.workflow_id);
      const { row } = await placeHold(tx, {
        id: holdIdFor(key),
        debitAccountId: campaign.owner_account_id,
        creditAccountId: house.id,
        asset: campaign.asset,
        amount: BigInt(campaign.budget),
        workflowId: scope.workflowId ?? campaign.workflow_id,
        step: key,
      });
      if (campaign.status === 'draft' || campaign.status === 'pending') {
        await updateCampaignStatus(tx, campaignId, 'scheduled', { holdId: row.id });
        await updateCampaignState(tx, campaignId, { phase: 'reserved' });
      }
      return { holdId: row.id };
    }),

    activateCampaign: transactional(deps, 'activateCampaign', async (campaignId: string, tx) => {
      const campaign = await lockLiveCampaign(tx, campaignId, 'activation');
      if (campaign.status === 'active') return { status: campaign.status };
      if (campaign.status !== 'scheduled') {
        throw new DomainError('InvalidState', `campaign ${campaignId} is ${campaign.status} and cannot be activated`);
      }
      await updateCampaignStatus(tx, campaignId, 'active');
      await updateCampaignState(tx, campaignId, { phase: 'active' });
      return { status: 'active' as const };
    }),

    /**
     * Ends the campaign: what rewards spent was captured batch by batch; the rest of the hold
     * is released. `endedEarly` marks it cancelled; repeated, it returns the first outcome.
     */
    closeCampaign: transactional(
      deps,
      'closeCampaign',
      async (i: { campaignId: string; endedEarly: boolean; reason?: string }, tx) => {
        const campaign = await lockLiveCampaign(tx, i.campaignId, 'close');
        const closed = campaign.status === 'completed' || campaign.status === 'cancelled';
        if (!closed) {
          const { released } = campaign.hold_id ? await releaseHold(tx, campaign.hold_id) : { released: 0n };
          await updateCampaignStatus(tx, i.campaignId, i.endedEarly ? 'cancelled' : 'completed', {
            reason: i.reason ? cleanReason(i.reason) : undefined,
          });
          await updateCampaignState(tx, i.campaignId, { phase: 'closed', released });
        }
        const state = await findCampaignState(tx, i.campaignId);
        return {
          status: closed ? campaign.status : i.endedEarly ? 'cancelled' : 'completed',
          spent: state?.spent ?? '0',
          released: state?.released ?? '0',
          rewardsPaid: state?.rewards_paid ?? 0,
        };
      },
    ),

    ...createCampaignRewardActivities(deps),
  };
}
