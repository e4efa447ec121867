import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChainProgress } from '../activities/withdrawal-chain';
import {
  DEFAULT_POLL_SECONDS,
  WITHDRAWAL_DEADLINE_HOURS,
  type CancelWithdrawalResult,
  type ValidWithdrawal,
  type WithdrawalInput,
  type WithdrawalProgress,
  type WithdrawalResult,
  type WithdrawalResume,
} from '../domain/withdrawal';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';
import { ACCOUNT_ID } from '../temporal/search-attributes';
import { COMPENSATION_OPTIONS } from './retry-policies';
import { Saga } from './saga';
import { awaitConfirmations, chain, POLLS_PER_RUN } from './withdrawal-confirm';

export const cancelWithdrawalUpdate = defineUpdate<CancelWithdrawalResult, [{ reason?: string }]>('cancelWithdrawal');
export const withdrawalProgressQuery = defineQuery<WithdrawalProgress>('withdrawalProgress');

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);

const failure = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

/**
 * Crypto withdrawal: validate → security (frozen, allow-list, one-time code) → hold amount
 * plus fee (release) → broadcast, idempotent by withdrawal id (the point of no return) →
 * await confirmations with durable timers, through reorgs → capture to the external chain
 * and fee accounts. A dropped transaction is rebroadcast once; dropped again, it is
 * abandoned and its hold released. `cancelWithdrawal` works until the broadcast starts.
 * A long wait for confirmations goes on in a new run (continueAsNew with `resume`), so
 * history stays bounded however slow the chain is.
 */
export async function withdrawCrypto(input: WithdrawalInput, carriedIn?: WithdrawalResume): Promise<WithdrawalResult> {
  // Only a run continued from this workflow's own earlier run skips the checks.
  const resume = workflowInfo().continuedFromExecutionRunId ? carriedIn : undefined;
  const deadlineSeconds = typeof input?.deadlineSeconds === 'number' ? input.deadlineSeconds : WITHDRAWAL_DEADLINE_HOURS * 3600;
  const pollMs = (typeof input?.pollSeconds === 'number' ? input.pollSeconds : DEFAULT_POLL_SECONDS) * 1000;
  const pollsPerRun = typeof input?.pollsPerRun === 'number' ? input.pollsPerRun : POLLS_PER_RUN;
  const saga = new Saga('withdrawal', { deadlineMs: deadlineSeconds * 1000, resumedAfter: resume?.stepsDone });
  const steps = saga.stepActivities<Activities>();
  // Canonical (lower case): the chain keys withdrawals by their text.
  const withdrawalId = String(input?.withdrawalId ?? workflowInfo().workflowId)
    .trim()
    .toLowerCase();
  const progress: WithdrawalProgress = resume
    ? { ...resume.progress }
    : { phase: 'checking', confirmations: 0, confirmationsRequired: 0, reorgs: 0, rebroadcasts: 0 };
  const beforeBroadcast = new CancellationScope();
  let cancelReason: string | undefined;
  let broadcastStarted = resume !== undefined;
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
    const { valid, status } = resume ?? (await holdAndBroadcast());
    progress.phase = 'confirming';
    const outcome = await saga.step('confirm', () =>
      awaitConfirmations({ withdrawalId, required: valid.confirmationsRequired, pollMs, pollsPerRun, status, progress }),
    );
    if (outcome.kind === 'continue') {
      // Past the point of no return a cancel is answered, not obeyed: the hand-over must not be cancelled either.
      await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
      const carried: WithdrawalResume = {
        valid,
        status: outcome.status,
        progress,
        stepsDone: saga.stepsDone().filter((name) => name !== 'confirm'),
      };
      return continueAsNew<typeof withdrawCrypto>(input, carried);
    }
    if (outcome.kind === 'released')
      throw failure('ChainDropped', `withdrawal ${withdrawalId}: the chain dropped its transaction twice; the hold was released`);
    const confirmed = outcome.status;

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

  /** Validate, security, hold (cancellable), then the broadcast: the point of no return. */
  async function holdAndBroadcast(): Promise<{ valid: ValidWithdrawal; status: ChainProgress }> {
    const valid = await beforeBroadcast
      .run(async () => {
        const v = await saga.step('validate', () => steps.validateWithdrawal(input));
        progress.confirmationsRequired = v.confirmationsRequired;
        const submittedAt = workflowInfo().startTime.toISOString();
        await saga.step('security', () =>
          steps.checkWithdrawalSecurity({ valid: v, otpCiphertext: input.otpCiphertext, submittedAt }),
        );
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
    const status: ChainProgress = await saga
      .step('broadcast', () => steps.broadcastWithdrawal({ withdrawalId }))
      .catch((err: unknown) => afterUnansweredBroadcast(err));
    // The transaction may be on its way to the chain: nothing is undone from here on.
    saga.pointOfNoReturn();
    progress.txId = status.txId;
    return { valid, status };
  }

  /**
   * The broadcast got no answer before the deadline (or the saga was cancelled meanwhile):
   * the transaction may be on the chain. Fence it — abandon and release — and fail; if the
   * chain has it, money is leaving: go on to its confirmations instead of compensating.
   */
  async function afterUnansweredBroadcast(err: unknown): Promise<ChainProgress> {
    // A refusal (a domain error) is an answer; a fault, a timeout or a cancel is not.
    const answered =
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      (err.cause.nonRetryable || (DOMAIN_ERROR_TYPES as readonly string[]).includes(err.cause.type ?? ''));
    if (!(err instanceof ActivityFailure) || answered) throw err;
    if (!patched('withdrawal-broadcast-unanswered')) throw err;
    const reached = await CancellationScope.nonCancellable(() =>
      undo.releaseWithdrawal({ withdrawalId, reason: 'the broadcast got no answer before the deadline' }).then(
        () => false,
        (e: unknown) => {
          if (e instanceof ActivityFailure && e.cause instanceof ApplicationFailure && e.cause.type === 'InvalidState')
            return true;
          throw e;
        },
      ),
    );
    if (!reached) throw err;
    // Asked again, idempotent by withdrawal id: the chain answers with the one transaction, and the row records it.
    return saga.step('broadcast', () => CancellationScope.nonCancellable(() => chain.broadcastWithdrawal({ withdrawalId })));
  }
}
