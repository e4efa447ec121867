import { createHash, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowIdReusePolicy,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { planCampaign } from '../activities/campaign';
import {
  CAMPAIGN_TYPES,
  campaignWorkflowId,
  PayRewardsInput,
  type CampaignInput,
  type CampaignPlan,
  type CampaignProgress,
  type PayRewardsResult,
} from '../domain/campaign';
import { DomainError, isDomainErrorType, validationError } from '../domain/errors';
import { formatAmount, parseHumanAmount } from '../domain/money';
import { assetCode, describeIssues, issueField, uuid } from '../domain/schemas';
import { findAssetScale } from '../db/queries/assets';
import { findCampaign, findCampaignState, findCampaignTombstone } from '../db/queries/campaigns';
import { findCampaignDefaults } from '../db/queries/config-areas';
import {
  campaignSetupUpdate,
  cancelCampaignUpdate,
  createCampaign as createCampaignWorkflow,
  payRewardsUpdate,
} from '../workflows';

/** What the campaign functions need: TxmgrClient has all three. */
export interface CampaignClient {
  temporal: Client;
  pool: Pool;
  taskQueue: string;
}

const humanAmount = z.string({ error: 'must be a decimal string such as "10.50"' });
const time = z.union([z.string(), z.date()], { error: 'must be an ISO 8601 time' });

/** A campaign as a person types it: amounts are human decimals of the asset ("1000.00"). */
export const CampaignRequest = z
  .object({
    campaignId: uuid.optional(),
    ownerAccountId: uuid,
    name: z.string({ error: 'name must be a string' }),
    type: z.enum(CAMPAIGN_TYPES, { error: `type must be one of ${CAMPAIGN_TYPES.join(', ')}` }).optional(),
    asset: assetCode.optional(),
    budget: humanAmount,
    rewardPerUser: humanAmount.optional(),
    maxPerUser: humanAmount.optional(),
    startsAt: time.optional(),
    endsAt: time.optional(),
    durationSeconds: z.number().optional(),
  })
  .strict();
export type CampaignRequest = z.input<typeof CampaignRequest>;

export const RewardRequest = z.array(z.object({ accountId: uuid, amount: humanAmount.optional() }).strict(), {
  error: 'rewards must be a list of { accountId, amount }',
});
export type RewardRequest = z.input<typeof RewardRequest>;

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw validationError(`invalid ${what}: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  return parsed.data;
}

const iso = (t: string | Date | undefined) => (t instanceof Date ? t.toISOString() : t);

/** Converts and checks a request exactly as the saga's validate step will; throws before anything is started. */
export async function prepareCampaign(
  c: CampaignClient,
  request: CampaignRequest,
): Promise<{ input: CampaignInput; plan: CampaignPlan }> {
  const r = parseOrThrow(CampaignRequest, request, 'campaign');
  const asset = r.asset ?? (await findCampaignDefaults(c.pool))?.budget_asset ?? 'USD';
  const scale = await findAssetScale(c.pool, asset);
  if (scale === undefined) throw validationError(`asset: unknown asset "${asset}"`, { field: 'asset' });
  const minor = (v: string | undefined, field: string) =>
    v === undefined ? undefined : parseHumanAmount(v, scale, field).toString();
  const input: CampaignInput = {
    campaignId: r.campaignId ?? randomUUID(),
    ownerAccountId: r.ownerAccountId,
    name: r.name,
    type: r.type,
    asset,
    budget: minor(r.budget, 'budget') as string,
    rewardPerUser: minor(r.rewardPerUser, 'rewardPerUser'),
    maxPerUser: minor(r.maxPerUser, 'maxPerUser'),
    startsAt: iso(r.startsAt),
    endsAt: iso(r.endsAt),
    durationSeconds: r.durationSeconds,
  };
  const db = await c.pool.connect();
  try {
    return { input, plan: await planCampaign(db, input, new Date()) };
  } finally {
    db.release();
  }
}

/** Starts the campaign saga (one workflow per campaign id; the same id again joins it). */
export async function startCampaign(c: CampaignClient, request: CampaignRequest) {
  const { input, plan } = await prepareCampaign(c, request);
  const workflowId = campaignWorkflowId(plan.campaignId);
  const scale = (await findAssetScale(c.pool, plan.asset)) ?? 0;
  try {
    await c.temporal.workflow.start(createCampaignWorkflow, {
      taskQueue: c.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `campaign "${plan.name}" by account ${plan.ownerAccountId}: budget ${formatAmount(BigInt(plan.budget), scale)} ${plan.asset}`,
    });
    return { campaignId: plan.campaignId, workflowId, started: true, plan };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { campaignId: plan.campaignId, workflowId, started: false, plan };
  }
}

/** Creates a campaign and returns once its setup is over: scheduled or active; a failed setup throws its cause. */
export async function createCampaign(c: CampaignClient, request: CampaignRequest): Promise<CampaignProgress> {
  const { workflowId } = await startCampaign(c, request);
  const handle = c.temporal.workflow.getHandle<typeof createCampaignWorkflow>(workflowId);
  try {
    const setup = await handle.executeUpdate(campaignSetupUpdate);
    // A setup that failed and was undone: the saga's own failure (its cause) is the answer.
    if (setup.outcome === 'compensated') await handle.result();
    return setup;
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw err;
    // The saga ended before answering (its setup failed and was undone): its result says why.
    const ended = await handle.describe().then(
      (d) => d.status.name !== 'RUNNING',
      () => false,
    );
    if (ended) return await handle.result();
    throw err;
  }
}

async function updateCampaign<T>(c: CampaignClient, campaignId: string, run: (id: string) => Promise<T>): Promise<T> {
  const id = parseOrThrow(uuid, campaignId, 'campaign id');
  try {
    return await run(campaignWorkflowId(id));
  } catch (err) {
    if (err instanceof Error && /already completed/i.test(err.message)) {
      throw new DomainError('InvalidState', `campaign ${id} has already ended`, { campaignId: id });
    }
    if (err instanceof WorkflowNotFoundError) throw new DomainError('NotFound', `no campaign ${id}`, { field: 'campaignId' });
    // A refused update carries the domain error the workflow or its activity raised: surface it as that error.
    const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
    if (cause instanceof ApplicationFailure && isDomainErrorType(cause.type)) {
      const details = cause.details?.[0];
      throw new DomainError(
        cause.type,
        cause.message,
        typeof details === 'object' && details ? (details as Record<string, unknown>) : undefined,
      );
    }
    throw err;
  }
}

/** Before activation: undoes the setup. After: ends the campaign early, releasing what was not spent. Returns the final state. */
export function cancelCampaign(c: CampaignClient, campaignId: string, reason?: string): Promise<CampaignProgress> {
  return updateCampaign(c, campaignId, (workflowId) =>
    c.temporal.workflow.getHandle(workflowId).executeUpdate(cancelCampaignUpdate, { args: [{ reason }] }),
  );
}

/**
 * Pays a batch of rewards (human decimals of the campaign's asset) in one atomic transaction.
 * The batch id defaults to a digest of the batch, so the same batch sent twice pays once.
 */
export async function payRewards(
  c: CampaignClient,
  campaignId: string,
  rewards: RewardRequest,
  options: { batchId?: string } = {},
): Promise<PayRewardsResult> {
  const id = parseOrThrow(uuid, campaignId, 'campaign id');
  const campaign = await findCampaign(c.pool, id);
  if (!campaign) throw new DomainError('NotFound', `no campaign ${id}`, { field: 'campaignId' });
  const scale = (await findAssetScale(c.pool, campaign.asset)) ?? 0;
  const list = parseOrThrow(RewardRequest, rewards, 'rewards').map((r, i) => ({
    accountId: r.accountId,
    amount: r.amount === undefined ? undefined : parseHumanAmount(r.amount, scale, `rewards.${i}.amount`).toString(),
  }));
  const batchId = options.batchId ?? createHash('sha256').update(JSON.stringify(list)).digest('hex').slice(0, 32);
  const batch = parseOrThrow(PayRewardsInput, { batchId, rewards: list }, 'rewards');
  return updateCampaign(c, id, (workflowId) =>
    c.temporal.workflow.getHandle(workflowId).executeUpdate(payRewardsUpdate, { args: [batch] }),
  );
}

export interface CampaignView {
  campaignId: string;
  status: string;
  name?: string;
  type?: string;
  ownerAccountId?: string;
  asset?: string;
  /** Human decimals with the asset's scale, and the same in minor units. */
  budget?: string;
  spent?: string;
  released?: string;
  rewardPerUser?: string;
  maxPerUser?: string;
  budgetMinor?: string;
  spentMinor?: string;
  rewardsPaid?: number;
  startsAt?: string;
  endsAt?: string;
  workflowId: string;
  reason?: string | null;
}

/** The campaign as recorded in PostgreSQL; one undone before activation shows as cancelled with why. */
export async function getCampaign(pool: Pool, campaignId: string): Promise<CampaignView> {
  const id = parseOrThrow(uuid, campaignId, 'campaign id');
  const row = await findCampaign(pool, id);
  if (!row) {
    const tomb = await findCampaignTombstone(pool, id);
    if (!tomb) throw new DomainError('NotFound', `no campaign ${id}`, { field: 'campaignId' });
    return {
      campaignId: id,
      status: 'cancelled',
      workflowId: tomb.workflow_id,
      reason: `undone before activation: ${tomb.reason}`,
    };
  }
  const state = await findCampaignState(pool, id);
  const scale = (await findAssetScale(pool, row.asset)) ?? 0;
  const h = (v: string) => formatAmount(BigInt(v), scale);
  return {
    campaignId: row.id,
    status: row.status,
    name: row.name,
    type: row.type,
    ownerAccountId: row.owner_account_id,
    asset: row.asset,
    budget: h(row.budget),
    spent: h(state?.spent ?? '0'),
    released: h(state?.released ?? '0'),
    rewardPerUser: h(row.reward_per_user),
    maxPerUser: h(row.max_per_user),
    budgetMinor: row.budget,
    spentMinor: state?.spent ?? '0',
    rewardsPaid: state?.rewards_paid ?? 0,
    startsAt: row.starts_at.toISOString(),
    endsAt: row.ends_at.toISOString(),
    workflowId: row.workflow_id,
    reason: row.reason,
  };
}
