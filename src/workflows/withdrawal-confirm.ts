import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ChainProgress } from '../activities/withdrawal-chain';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';
import type { WithdrawalProgress } from '../domain/withdrawal';

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
export const chain = proxyActivities<Activities>(AFTER_BROADCAST);

/** Confirmation checks per run before the wait goes on in a new run (each check adds about 11 history events). */
export const POLLS_PER_RUN = 400;

const errorType = (err: unknown) =>
  err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause.type : undefined;

export type ConfirmOutcome =
  | { kind: 'confirmed'; status: ChainProgress }
  | { kind: 'released' }
  /** History is getting long: the caller carries `status` into a new run. */
  | { kind: 'continue'; status: ChainProgress };

/**
 * Waits for the required confirmations with durable timers, through reorgs. A dropped
 * transaction is rebroadcast once; dropped again, it is abandoned and its hold released
 * (refused if it got mined meanwhile, and the wait goes on).
 */
export async function awaitConfirmations(o: {
  withdrawalId: string;
  required: number;
  pollMs: number;
  pollsPerRun: number;
  status: ChainProgress;
  progress: WithdrawalProgress;
}): Promise<ConfirmOutcome> {
  const { withdrawalId, progress } = o;
  let status = o.status;
  let polls = 0;
  while (!(status.state === 'confirmed' && status.confirmations >= o.required)) {
    if (status.state === 'dropped' || status.state === 'abandoned') {
      if (progress.rebroadcasts === 0) {
        progress.rebroadcasts++;
        status = await chain.broadcastWithdrawal({ withdrawalId });
        continue;
      }
      const reason = `transaction ${status.txId ?? ''} was dropped by the chain twice`;
      try {
        await chain.releaseWithdrawal({ withdrawalId, reason });
        progress.phase = 'failed';
        return { kind: 'released' };
      } catch (err) {
        if (errorType(err) !== 'InvalidState') throw err;
      }
    }
    // A slow chain must not grow one run's history without bound (Temporal caps it).
    if (
      (polls >= o.pollsPerRun || workflowInfo().continueAsNewSuggested) &&
      patched('withdrawal-confirmations-continue-as-new')
    ) {
      return { kind: 'continue', status };
    }
    await sleep(o.pollMs);
    polls++;
    const before = status.confirmations;
    status = await chain.withdrawalConfirmations({ withdrawalId });
    if (status.confirmations < before) progress.reorgs++;
    progress.confirmations = status.confirmations;
    progress.txId = status.txId ?? progress.txId;
  }
  return { kind: 'confirmed', status };
}
