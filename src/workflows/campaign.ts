import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  CAMPAIGN_SETUP_DEADLINE_SECONDS,
  campaignHoldKey,
  type CampaignInput,
  type CampaignProgress,
  type PayRewardsInput,
} from '../domain/campaign';
import { ACCOUNT_ID } from '../temporal/search-attributes';
import { campaignProgressQuery, campaignSetupUpdate, cancelCampaignUpdate, payRewardsUpdate } from './campaign-messages';
import { COMPENSATION_OPTIONS, MUST_COMPLETE_OPTIONS, STEP_OPTIONS } from './retry-policies';
import { Saga } from './saga';

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);
const mustComplete = proxyActivities<Activities>(MUST_COMPLETE_OPTIONS);
// A reward batch is one transaction: its caller waits, so faults are retried for minutes, not days.
const rewards = proxyActivities<Activities>({ ...STEP_OPTIONS, scheduleToCloseTimeout: '2 minutes' });

// The SDK's deterministic clock inside the sandbox (see saga.ts).
// eslint-disable-next-line no-restricted-properties
const now = (): number => Date.now();

const CANCELLED_BEFORE_ACTIVATION = 'CampaignCancelled';

/**
 * Campaign creation: validate (config defaults and maxima) → record (delete, fenced by a
 * tombstone) → state (clean up) → reserve the budget as a hold (release) → activate, at the
 * scheduled start by a durable timer. Activation is the point of no return: rewards are paid
 * by update in atomic batches, and at the scheduled end (or a cancel) the campaign closes,
 * releasing what was not spent.
 */
export async function createCampaign(input: CampaignInput): Promise<CampaignProgress> {
  const deadlineSeconds = typeof input?.deadlineSeconds === 'number' ? input.deadlineSeconds : CAMPAIGN_SETUP_DEADLINE_SECONDS;
  const saga = new Saga('campaign', { deadlineMs: deadlineSeconds * 1000 });
  const steps = saga.stepActivities<Activities>();
  const workflowId = workflowInfo().workflowId;
  const progress: CampaignProgress = {
    campaignId: typeof input?.campaignId === 'string' ? input.campaignId : '',
    workflowId,
    status: 'setup',
    spent: '0',
    released: '0',
    rewardsPaid: 0,
  };
  let cancel: { reason: string } | undefined;
  let finished = false;
  let closing = false;
  let paying = 0;
  // Setup is over once the campaign waits for its start, is active, or has ended.
  let setupDone = false;
  // Past activation a workflow cancel is answered, not obeyed: payments and the close finish.
  let cancelProof = false;
  const unlessCancelProof = <T>(fn: () => Promise<T>): Promise<T> => (cancelProof ? CancellationScope.nonCancellable(fn) : fn());
  CancellationScope.current().cancelRequested.catch(() => {
    cancel ??= { reason: 'workflow cancellation requested' };
  });

  setHandler(campaignProgressQuery, () => ({ ...progress }));
  setHandler(campaignSetupUpdate, async () => {
    await condition(() => setupDone || finished);
    return { ...progress };
  });
  setHandler(
    cancelCampaignUpdate,
    async (request) => {
      cancel ??= { reason: (typeof request?.reason === 'string' && request.reason.slice(0, 500)) || 'cancelled by request' };
      await condition(() => finished);
      return { ...progress };
    },
    { validator: (_request) => void (finished && reject('InvalidState', `campaign ${progress.campaignId} has already ended`)) },
  );
  setHandler(
    payRewardsUpdate,
    async (batch: PayRewardsInput) => {
      paying++;
      try {
        const paid = await unlessCancelProof(() => rewards.payCampaignRewards({ ...batch, campaignId: progress.campaignId }));
        // A repeated batch id answers with its first outcome: counted then, not again.
        if (!paid.repeated) {
          // Batches may answer out of order: the campaign's spending only grows.
          if (BigInt(paid.spent) > BigInt(progress.spent)) progress.spent = paid.spent;
          progress.rewardsPaid += paid.paid;
        }
        return paid;
      } catch (err) {
        // The caller sees the domain error itself (type and message), not the activity wrapper.
        if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw err.cause;
        throw err;
      } finally {
        paying--;
      }
    },
    {
      validator: (_batch) => {
        if (progress.status !== 'active' || closing) {
          reject(
            'InvalidState',
            `campaign ${progress.campaignId} is ${closing ? 'closing' : progress.status}; rewards are paid only while it is active`,
          );
        }
      },
    },
  );
  if (typeof input?.ownerAccountId === 'string') upsertSearchAttributes([{ key: ACCOUNT_ID, value: input.ownerAccountId }]);

  const stopIfCancelled = () => {
    if (cancel) reject(CANCELLED_BEFORE_ACTIVATION, `campaign cancelled before activation: ${cancel.reason}`);
  };
  let value: CampaignProgress | undefined;
  let error: unknown;
  try {
    value = await saga.run(async () => {
      const plan = await saga.step('validate', () => steps.validateCampaign(input));
      const id = plan.campaignId;
      Object.assign(progress, {
        campaignId: id,
        asset: plan.asset,
        budget: plan.budget,
        startsAt: plan.startsAt,
        endsAt: plan.endsAt,
      });
      await saga.step('record', () => steps.createCampaignRecord(plan), {
        name: 'deleteCampaignRecord',
        run: (reason) => undo.deleteCampaignRecord({ campaignId: id, reason }),
      });
      stopIfCancelled();
      await saga.step('state', () => steps.initCampaignState(id), {
        name: 'cleanCampaignState',
        run: () => undo.cleanCampaignState(id),
      });
      stopIfCancelled();
      await saga.step('reserve', () => steps.reserveCampaignBudget(id), {
        name: 'releaseCampaignBudget',
        run: () => undo.releaseHold({ holdIdempotencyKey: campaignHoldKey(workflowId) }),
      });
      progress.status = 'scheduled';
      const untilStart = Date.parse(plan.startsAt) - now();
      setupDone = untilStart > 0;
      if (untilStart > 0) await saga.outsideDeadline(() => condition(() => cancel !== undefined, untilStart));
      stopIfCancelled();
      await saga.step('activate', () => steps.activateCampaign(id));
      // Rewards may be paid from here on: nothing is undone any more, a cancel ends the campaign early.
      saga.pointOfNoReturn();
      cancelProof = patched('campaign-cancel-proof-after-activation');
      progress.status = 'active';
      setupDone = true;
      const untilEnd = Date.parse(plan.endsAt) - now();
      if (untilEnd > 0 && !cancel) {
        await CancellationScope.nonCancellable(() => saga.outsideDeadline(() => condition(() => cancel !== undefined, untilEnd)));
      }
      closing = true;
      await unlessCancelProof(() => condition(() => paying === 0));
      const closed = await saga.step('close', () =>
        mustComplete.closeCampaign({ campaignId: id, endedEarly: cancel !== undefined, reason: cancel?.reason }),
      );
      const outcome = cancel ? ('ended-early' as const) : ('completed' as const);
      return Object.assign(progress, { ...closed, outcome });
    });
  } catch (err) {
    const cancelled = err instanceof ApplicationFailure && err.type === CANCELLED_BEFORE_ACTIVATION;
    progress.status = 'cancelled';
    progress.outcome = cancelled ? 'cancelled-before-activation' : 'compensated';
    progress.failure = err instanceof Error ? err.message : String(err);
    if (cancelled) value = { ...progress };
    else error = err;
  }
  finished = true;
  await unlessCancelProof(() => condition(() => paying === 0));
  if (error !== undefined) throw error;
  return value as CampaignProgress;
}

function reject(type: string, message: string): never {
  throw ApplicationFailure.create({ type, message, nonRetryable: true });
}
