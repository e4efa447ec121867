import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  defineUpdate,
  isCancellation,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChainProgress } from '../activities/withdrawal-chain';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';
import {
  DEFAULT_POLL_SECONDS,
  WITHDRAWAL_DEADLINE_HOURS,
  type CancelWithdrawalResult,
  type WithdrawalInput,
  type WithdrawalProgress,
  type WithdrawalResult,
} from '../domain/withdrawal';
import { ACCOUNT_ID } from '../temporal/search-attributes';
import { COMPENSATION_OPTIONS } from './retry-policies';
import { Saga } from './saga';

export const cancelWithdrawalUpdate = defineUpdate<CancelWithdrawalResult, [{ reason?: string }]>('cancelWithdrawal');
export const withdrawalProgressQuery = defineQuery<WithdrawalProgress>('withdrawalProgress');

/** After the broadcast: retried until they succeed (the chain or the database may be down for a while). */
const AFTER_BROADCAST: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    nonRetryableErrorTypes: [...DOMAIN_ERROR_TYPES],
  },
};
const chain = proxyActivities<Activities>(AFTER_BROADCAST);
const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);

const failure = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });
const errorType = (err: unknown) =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;

/**
 * Crypto withdrawal: validate → security (frozen, allow-list, one-time code) → hold amount
 * plus fee (release) → broadcast, idempotent by withdrawal id (the point of no return) →
 * await confirmations with durable timers, through reorgs → capture to the external chain
 * and fee accounts. A dropped transaction is rebroadcast once; dropped again, it is
 * abandoned and its hold released. `cancelWithdrawal` works until the broadcast starts.
 */
export async function withdrawCrypto(input: WithdrawalInput): Promise<WithdrawalResult> {
  const deadlineSeconds = typeof input?.deadlineSeconds === 'number' ? input.deadlineSeconds : WITHDRAWAL_DEADLINE_HOURS * 3600;
  const pollMs = (typeof input?.pollSeconds === 'number' ? input.pollSeconds : DEFAULT_POLL_SECONDS) * 1000;
  const saga = new Saga('withdrawal', { deadlineMs: deadlineSeconds * 1000 });
  const steps = saga.stepActivities<Activities>();
  const withdrawalId = String(input?.withdrawalId ?? workflowInfo().workflowId);
  const progress: WithdrawalProgress = {
    phase: 'checking',
    confirmations: 0,
    confirmationsRequired: 0,
    reorgs: 0,
    rebroadcasts: 0,
  };
  const beforeBroadcast = new CancellationScope();
  let cancelReason: string | undefined;
  let broadcastStarted = false;
  setHandler(withdrawalProgressQuery, () => ({ ...progress }));
  setHandler(cancelWithdrawalUpdate, (request) => {
    if (broadcastStarted) {
      return {
        cancelled: false,
        reason: `withdrawal ${withdrawalId} was already broadcast (${progress.txId ?? 'sending'}); money may have left, so it completes`,
      };
    }
    cancelReason ??=
      typeof request?.reason === 'string' && request.reason.trim() ? request.reason.trim().slice(0, 500) : 'cancelled by request';
    beforeBroadcast.cancel();
    return { cancelled: true, reason: `cancelled before broadcast: ${cancelReason}` };
  });
  if (typeof input?.accountId === 'string') upsertSearchAttributes([{ key: ACCOUNT_ID, value: input.accountId }]);

  return saga.run(async () => {
    const valid = await beforeBroadcast
      .run(async () => {
        const v = await saga.step('validate', () => steps.validateWithdrawal(input));
        progress.confirmationsRequired = v.confirmationsRequired;
        await saga.step('security', () => steps.checkWithdrawalSecurity({ valid: v, otpCiphertext: input.otpCiphertext }));
        await saga.step('hold', () => steps.holdWithdrawal(v), {
          name: 'releaseWithdrawal',
          run: (reason) => undo.releaseWithdrawal({ withdrawalId, reason }),
        });
        progress.phase = 'held';
        return v;
      })
      .catch((err: unknown) => {
        throw cancelReason !== undefined && isCancellation(err)
          ? failure('WithdrawalCancelled', `withdrawal ${withdrawalId} ${cancelReason}`)
          : err;
      });
    if (cancelReason !== undefined)
      throw failure('WithdrawalCancelled', `withdrawal ${withdrawalId} cancelled before broadcast: ${cancelReason}`);

    broadcastStarted = true;
    progress.phase = 'broadcasting';
    let status: ChainProgress = await saga.step('broadcast', () => steps.broadcastWithdrawal({ withdrawalId }));
    // The transaction may be on its way to the chain: nothing is undone from here on.
    saga.pointOfNoReturn();
    progress.txId = status.txId;
    progress.phase = 'confirming';

    const confirmed = await saga.step('confirm', async () => {
      while (!(status.state === 'confirmed' && status.confirmations >= valid.confirmationsRequired)) {
        if (status.state === 'dropped' || status.state === 'abandoned') {
          if (progress.rebroadcasts === 0) {
            progress.rebroadcasts++;
            status = await chain.broadcastWithdrawal({ withdrawalId });
            continue;
          }
          // Dropped twice: abandon it on the chain and release the hold (refused if it got mined meanwhile).
          const reason = `transaction ${status.txId ?? ''} was dropped by the chain twice`;
          try {
            await chain.releaseWithdrawal({ withdrawalId, reason });
            progress.phase = 'failed';
            return undefined;
          } catch (err) {
            if (errorType(err) !== 'InvalidState') throw err;
          }
        }
        await sleep(pollMs);
        const before = status.confirmations;
        status = await chain.withdrawalConfirmations({ withdrawalId });
        if (status.confirmations < before) progress.reorgs++;
        progress.confirmations = status.confirmations;
        progress.txId = status.txId ?? progress.txId;
      }
      return status;
    });
    if (!confirmed)
      throw failure('ChainDropped', `withdrawal ${withdrawalId}: the chain dropped its transaction twice; the hold was released`);

    progress.phase = 'capturing';
    await saga.step('capture', () => chain.completeWithdrawal({ withdrawalId, confirmations: confirmed.confirmations }));
    progress.phase = 'done';
    return {
      withdrawalId,
      accountId: valid.accountId,
      asset: valid.asset,
      address: valid.address,
      amount: valid.amount,
      fee: valid.fee,
      chainTxId: confirmed.txId ?? '',
      confirmations: confirmed.confirmations,
      status: 'COMPLETED',
    };
  });
}
