import { z } from 'zod';
import { assetCode, minorUnits, uuid } from './schemas';

/** Campaigns: the saga's input, its validated plan, rewards and what the workflow reports. Pure. */

const noNul = (s: string): boolean => !s.includes('\u0000');

export const CAMPAIGN_TYPES = ['referral', 'cashback', 'airdrop', 'promotion'] as const;
export type CampaignType = (typeof CAMPAIGN_TYPES)[number];
export const CAMPAIGN_STATUSES = ['draft', 'pending', 'scheduled', 'active', 'completed', 'cancelled'] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

export const MAX_CAMPAIGN_NAME = 120;
/** Rewards in one atomic batch: one database transaction, so bounded. */
export const MAX_REWARDS_PER_BATCH = 5000;
/** How long the setup (validate → reserve) retries transient faults before it compensates. */
export const CAMPAIGN_SETUP_DEADLINE_SECONDS = 3600;

/**
 * A campaign name: trimmed and in Unicode NFC (so "Café" typed two ways is one name to the
 * per-owner uniqueness), counted in characters as PostgreSQL counts them (an emoji is one,
 * not two UTF-16 units), without NUL or other control characters (a name is printed in tables).
 */
export const campaignName = z
  .string({ error: 'name must be a string' })
  .trim()
  .normalize('NFC')
  .min(1, 'name must not be empty')
  .refine((s) => [...s].length <= MAX_CAMPAIGN_NAME, `name must be at most ${MAX_CAMPAIGN_NAME} characters`)
  .refine(noNul, 'name must not contain NUL characters')
  .refine((s) => !/\p{Cc}/u.test(s), 'name must not contain control characters such as a line break or tab');

const isoTime = (field: string) =>
  z.iso.datetime({ offset: true, error: `${field} must be an ISO 8601 time such as 2027-01-31T12:00:00Z` });

/** The saga's input: canonical ids, amounts in minor units; omitted fields come from the campaign config. */
export const CampaignInput = z
  .object({
    campaignId: uuid,
    ownerAccountId: uuid,
    name: campaignName,
    type: z.enum(CAMPAIGN_TYPES, { error: `type must be one of ${CAMPAIGN_TYPES.join(', ')}` }).default('promotion'),
    asset: assetCode.optional(),
    budget: minorUnits,
    rewardPerUser: minorUnits.optional(),
    maxPerUser: minorUnits.optional(),
    startsAt: isoTime('startsAt').optional(),
    endsAt: isoTime('endsAt').optional(),
    /** How long the campaign runs from its start, instead of an end time. */
    durationSeconds: z
      .number({ error: 'durationSeconds must be a whole number of seconds' })
      .int('durationSeconds must be a whole number of seconds')
      .min(1, 'durationSeconds must be at least 1')
      .max(10 * 365 * 86_400, 'durationSeconds must be at most ten years')
      .optional(),
    deadlineSeconds: z
      .number()
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional(),
  })
  .strict()
  .refine((c) => c.endsAt === undefined || c.durationSeconds === undefined, {
    message: 'give endsAt or durationSeconds, not both',
    path: ['durationSeconds'],
  });
export type CampaignInput = z.input<typeof CampaignInput>;

/** What validation settled: every field resolved, times as ISO strings. */
export interface CampaignPlan {
  campaignId: string;
  ownerAccountId: string;
  name: string;
  type: CampaignType;
  asset: string;
  budget: string;
  rewardPerUser: string;
  maxPerUser: string;
  startsAt: string;
  endsAt: string;
  configVersion: string;
}

export const RewardInput = z
  .object({
    accountId: uuid,
    /** Minor units; the campaign's reward per user when omitted. */
    amount: minorUnits.optional(),
  })
  .strict();

export const PayRewardsInput = z
  .object({
    /** The batch's idempotency key: the same batch id pays once. */
    batchId: z
      .string({ error: 'batchId must be a string' })
      .trim()
      .min(1, 'batchId must not be empty')
      .max(128, 'batchId must be at most 128 characters')
      .refine(noNul, 'batchId must not contain NUL characters'),
    rewards: z
      .array(RewardInput, { error: 'rewards must be a list of { accountId, amount }' })
      .min(1, 'rewards must not be empty')
      .max(MAX_REWARDS_PER_BATCH, `rewards must hold at most ${MAX_REWARDS_PER_BATCH} entries per batch`),
  })
  .strict();
export type PayRewardsInput = z.input<typeof PayRewardsInput>;

export interface PayRewardsResult {
  campaignId: string;
  batchId: string;
  /** Rewards this batch paid now, and those already paid by an earlier attempt (same recipient, same amount). */
  paid: number;
  alreadyPaid: number;
  /** Minor units paid by this batch, and by the campaign so far. */
  amount: string;
  spent: string;
  remaining: string;
  /** This batch id was paid before with the same content: the outcome above is that first one, nothing was paid now. */
  repeated?: boolean;
}

/** What the workflow reports at any time (query, updates) and returns at its end. */
export interface CampaignProgress {
  campaignId: string;
  workflowId: string;
  /** setup: validate → reserve running; the rest mirror the campaign row. */
  status: 'setup' | CampaignStatus;
  asset?: string;
  budget?: string;
  spent: string;
  released: string;
  rewardsPaid: number;
  startsAt?: string;
  endsAt?: string;
  /** Set once the campaign ended: how (end of schedule, cancel, compensated setup). */
  outcome?: 'completed' | 'ended-early' | 'cancelled-before-activation' | 'compensated';
  failure?: string;
}

/** The workflow id of a campaign; one workflow per campaign id. */
export const campaignWorkflowId = (campaignId: string): string => `campaign-${campaignId.trim().toLowerCase()}`;

/** Ledger labels of a campaign's hold, batch captures and reward transfers. */
export const campaignHoldKey = (workflowId: string): string => `${workflowId}:reserve`;
export const rewardCaptureKey = (workflowId: string, batchId: string): string => `${workflowId}:rewards:${batchId}`;
export const rewardTransferKey = (campaignId: string, accountId: string): string => `campaign-reward:${campaignId}:${accountId}`;

/**
 * How a batch differs from what was paid under its id before (recipient → minor units), one
 * line per difference, first few only; empty when the content is the same (order aside).
 */
export function rewardBatchDifferences(
  before: Record<string, string>,
  now: Array<{ index: number; accountId: string; amount: bigint }>,
  human: (minor: string | bigint) => string,
  limit = 5,
): string[] {
  const lines: string[] = [];
  const present = new Set<string>();
  for (const r of now) {
    present.add(r.accountId);
    const was = before[r.accountId];
    if (was === undefined) lines.push(`rewards.${r.index}.accountId: ${r.accountId} was not in it`);
    else if (BigInt(was) !== r.amount) {
      lines.push(`rewards.${r.index}.amount: ${human(r.amount)} for ${r.accountId}, where it paid ${human(was)}`);
    }
  }
  for (const [accountId, amount] of Object.entries(before)) {
    if (!present.has(accountId)) lines.push(`account ${accountId} is missing (it had ${human(amount)})`);
  }
  return lines.length > limit ? [...lines.slice(0, limit), `and ${lines.length - limit} more`] : lines;
}
