import { ActivityCancellationType, type ActivityOptions } from '@temporalio/workflow';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';

const NON_RETRYABLE = [...DOMAIN_ERROR_TYPES, 'DatabaseRejected'];

/**
 * Forward steps: transient faults are retried with no attempt limit — the saga bounds
 * them by its business deadline (`Saga.stepActivities` adds a schedule-to-close timeout
 * from the time left); domain errors fail at once.
 */
export const STEP_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  // On cancellation, wait for a step already running to finish (or fail) before the
  // saga compensates; otherwise the step could take effect after its compensation ran.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/**
 * Compensations retry transient faults without limit: only a domain error (money already
 * spent) parks the saga in COMPENSATION_FAILED for an operator.
 */
export const COMPENSATION_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: NON_RETRYABLE,
  },
};

/** Steps that must eventually happen once the money moved (notifications): retried until they do. */
export const MUST_COMPLETE_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  // maximumAttempts unset: unlimited.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 minutes' },
};
