import { captureIdFor, transferIdFor } from '../domain/ids';
import {
  PayRewardsInput,
  rewardBatchDifferences,
  rewardCaptureKey,
  rewardTransferKey,
  type PayRewardsResult,
} from '../domain/campaign';
import { DomainError, validationError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { describeIssues, issueField } from '../domain/schemas';
import { captureHold } from '../db/ledger';
import { postTransfersFromOne } from '../db/ledger-batch';
import { findHouseAccount, lockAccounts } from '../db/queries/accounts';
import { findAssetScale } from '../db/queries/assets';
import {
  findCampaignRewards,
  findCampaignState,
  findRewardBatch,
  insertCampaignRewards,
  insertRewardBatch,
  lockCampaign,
  updateCampaignState,
} from '../db/queries/campaigns';
import { transactional } from './boundary';
import type { ActivityDeps } from './deps';

export interface PayCampaignRewardsInput extends PayRewardsInput {
  campaignId: string;
}

export function createCampaignRewardActivities(deps: ActivityDeps) {
  return {
    /**
     * Pays a batch of rewards in one transaction, all or nothing: a partial capture of the
     * campaign's hold (owner → campaign_budget), then one transfer per recipient from
     * campaign_budget. A recipient already paid the same amount by this campaign is skipped
     * (a retried batch pays nobody twice); a batch over the budget or a per-user maximum pays nothing.
     * The batch id is recorded with the batch's content: the same id again returns the first
     * outcome, and with other recipients or amounts it is an IdempotencyConflict.
     */
    payCampaignRewards: transactional(
      deps,
      'payCampaignRewards',
      async (raw: PayCampaignRewardsInput, tx, scope): Promise<PayRewardsResult> => {
        const { campaignId, ...rest } = raw ?? ({} as PayCampaignRewardsInput);
        const parsed = PayRewardsInput.safeParse(rest);
        if (!parsed.success)
          throw validationError(`invalid rewards: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
        const { batchId, rewards } = parsed.data;
        const campaign = typeof campaignId === 'string' ? await lockCampaign(tx, campaignId.trim().toLowerCase()) : undefined;
        if (!campaign)
          throw new DomainError('NotFound', `campaign ${String(campaignId)} does not exist`, { field: 'campaignId' });
        const scale = (await findAssetScale(tx, campaign.asset)) ?? 0;
        const human = (v: bigint | string) => `${formatAmount(BigInt(v), scale)} ${campaign.asset}`;
        const seen = new Set<string>();
        const wanted = rewards.map((r, i) => {
          if (seen.has(r.accountId))
            throw validationError(`rewards.${i}.accountId: ${r.accountId} appears twice in the batch`, {
              field: `rewards.${i}.accountId`,
            });
          seen.add(r.accountId);
          return { index: i, accountId: r.accountId, amount: r.amount ? BigInt(r.amount) : BigInt(campaign.reward_per_user) };
        });
        // The batch id is the batch's idempotency key: its first outcome, or a conflict when the content is not the same.
        const earlier = await findRewardBatch(tx, campaign.id, batchId);
        if (earlier) {
          const differences = rewardBatchDifferences(earlier.rewards, wanted, human);
          if (differences.length > 0) {
            throw new DomainError(
              'IdempotencyConflict',
              `batch ${batchId} of campaign ${campaign.id} was already paid with other rewards, so this one pays nothing: ${differences.join('; ')}`,
              { field: 'rewards', batchId },
            );
          }
          return {
            campaignId: campaign.id,
            batchId,
            paid: earlier.paid,
            alreadyPaid: earlier.already_paid,
            amount: earlier.amount,
            spent: earlier.spent,
            remaining: earlier.remaining,
            repeated: true,
          };
        }
        if (campaign.status !== 'active') {
          throw new DomainError(
            'InvalidState',
            `campaign ${campaign.id} is ${campaign.status}; rewards are paid only while it is active`,
          );
        }
        const maxPerUser = BigInt(campaign.max_per_user);
        for (const r of wanted) {
          if (r.amount > maxPerUser) {
            throw validationError(
              `rewards.${r.index}.amount: ${human(r.amount)} is over the per-user maximum of ${human(maxPerUser)}`,
              { field: `rewards.${r.index}.amount` },
            );
          }
        }
        const paidBefore = await findCampaignRewards(tx, campaign.id, [...seen]);
        const fresh = wanted.filter((r) => {
          const before = paidBefore.get(r.accountId);
          if (!before) return true;
          if (BigInt(before.amount) !== r.amount) {
            throw new DomainError(
              'IdempotencyConflict',
              `rewards.${r.index}: account ${r.accountId} was already rewarded ${human(before.amount)} by this campaign, not ${human(r.amount)}`,
              { field: `rewards.${r.index}.amount` },
            );
          }
          return false;
        });
        const total = fresh.reduce((sum, r) => sum + r.amount, 0n);
        const state = await findCampaignState(tx, campaign.id);
        const spent = BigInt(state?.spent ?? '0');
        const left = BigInt(campaign.budget) - spent;
        if (total > left) {
          throw new DomainError(
            'InsufficientFunds',
            `rewards: the batch pays ${human(total)} but only ${human(left)} of the budget is left`,
            {
              field: 'rewards',
            },
          );
        }
        const content = Object.fromEntries(wanted.map((r) => [r.accountId, r.amount.toString()]));
        const result = { campaignId: campaign.id, batchId, alreadyPaid: wanted.length - fresh.length, paid: fresh.length };
        const outcome = {
          ...result,
          amount: total.toString(),
          spent: (spent + total).toString(),
          remaining: (left - total).toString(),
        };
        const recordBatch = () =>
          insertRewardBatch(tx, {
            campaignId: campaign.id,
            batchId,
            rewards: content,
            paid: outcome.paid,
            already_paid: outcome.alreadyPaid,
            amount: outcome.amount,
            spent: outcome.spent,
            remaining: outcome.remaining,
          });
        if (fresh.length === 0) {
          await recordBatch();
          return outcome;
        }

        const house = await findHouseAccount(tx, campaign.asset, 'campaign_budget');
        if (!house || !campaign.hold_id) throw new Error(`campaign ${campaign.id} has no budget hold or house account`);
        const accounts = await lockAccounts(tx, [campaign.owner_account_id, house.id, ...fresh.map((r) => r.accountId)]);
        for (const r of fresh) {
          const account = accounts.get(r.accountId);
          if (!account || account.kind !== 'user') {
            throw validationError(`rewards.${r.index}.accountId: no user account ${r.accountId}`, {
              field: `rewards.${r.index}.accountId`,
            });
          }
          if (account.asset !== campaign.asset) {
            throw validationError(
              `rewards.${r.index}.accountId: account ${r.accountId} holds ${account.asset}, not ${campaign.asset}`,
              {
                field: `rewards.${r.index}.accountId`,
              },
            );
          }
        }
        const captureKey = rewardCaptureKey(campaign.workflow_id, batchId);
        const capture = await captureHold(tx, {
          transferId: captureIdFor(captureKey),
          holdId: campaign.hold_id,
          amount: total,
          workflowId: scope.workflowId ?? campaign.workflow_id,
          step: captureKey,
        });
        // Every batch captures anew: rewards paid on an earlier capture would leave the budget account short.
        if (!capture.created) {
          throw new DomainError('IdempotencyConflict', `batch ${batchId} of campaign ${campaign.id} was captured before`, {
            field: 'batchId',
          });
        }
        const credits = fresh.map((r) => {
          const key = rewardTransferKey(campaign.id, r.accountId);
          return { id: transferIdFor(key), creditAccountId: r.accountId, amount: r.amount, step: key };
        });
        const debit = accounts.get(house.id) ?? house;
        await postTransfersFromOne(tx, { debit, credits, accounts, workflowId: scope.workflowId ?? campaign.workflow_id });
        await insertCampaignRewards(
          tx,
          campaign.id,
          batchId,
          credits.map((c) => ({ accountId: c.creditAccountId, amount: c.amount, transferId: c.id })),
        );
        await updateCampaignState(tx, campaign.id, { paid: fresh.length, spent: total, batch: true });
        await recordBatch();
        return outcome;
      },
    ),
  };
}
