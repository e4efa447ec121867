import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  defineQuery,
  defineSignal,
  log,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  type ActivityOptions,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { DOMAIN_ERROR_TYPES } from '../domain/errors';
import { SAGA_STATUS, SAGA_TYPE } from '../temporal/search-attributes';
import { STEP_OPTIONS } from './retry-policies';

/** Failure types that are a step's answer (never retried), as opposed to a fault that outlasted the retries. */
const ANSWERS: readonly string[] = [...DOMAIN_ERROR_TYPES, 'DatabaseRejected'];

/** Business deadline of a saga that names none. */
export const DEFAULT_SAGA_DEADLINE_HOURS = 24;
const HOUR_MS = 3_600_000;

// In the workflow sandbox Date is the SDK's deterministic clock (the time of the current
// workflow task), the only way to measure the time left before the deadline without a timer.
// eslint-disable-next-line no-restricted-properties
const workflowNow = (): number => Date.now();

export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPENSATED' | 'COMPLETED' | 'FAILED' | 'COMPENSATION_FAILED';

export interface SagaState {
  sagaType: string;
  status: SagaStatus;
  /** Steps that finished, in order. */
  stepsDone: string[];
  /** Compensations that finished, in the order they ran (the reverse of their steps). */
  compensationsRun: string[];
  /** What is still to be undone, next first, while compensating. */
  compensationsPending: string[];
  /** Why the saga is compensating, or the last compensation error while COMPENSATION_FAILED. */
  failure?: string;
  compensationError?: string;
  /** When transient faults stop being retried and the saga compensates (ISO time, moved by waits for a person). */
  deadline: string;
  /** The step after which the saga can no longer be undone; set once it passed that point. */
  pointOfNoReturn?: string;
  /** A cancel was requested. Before the point of no return it compensates; after it, the saga completes. */
  cancelRequested: boolean;
}

export interface SagaOptions {
  /** How long the saga's own work may take, transient faults included; default 24 hours. */
  deadlineMs?: number;
  /** A run continued from one past its point of no return: the steps that run did. */
  resumedAfter?: string[];
}

export const sagaStatusQuery = defineQuery<SagaState>('sagaStatus');
/** An operator asks a saga stuck in COMPENSATION_FAILED to try its compensation again. */
export const retryCompensationSignal = defineSignal('retryCompensation');

interface Compensation {
  name: string;
  run: (reason: string) => Promise<unknown>;
}

const describe = (err: unknown): string => {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${describe(cause)}` : err.message;
  }
  return String(err);
};

/**
 * A compensation stack. Each step's inverse is pushed *before* the step runs (the
 * step may take effect and still report an error), so every inverse must be a no-op
 * when its step never happened. On failure the inverses run in reverse inside a
 * non-cancellable scope; one that keeps failing parks the saga in
 * COMPENSATION_FAILED until an operator sends `retryCompensation`.
 */
export class Saga {
  private readonly compensations: Compensation[] = [];
  private readonly state: SagaState;
  private retryRequests = 0;
  private deadlineAt: number;
  private pastPointOfNoReturn = false;

  constructor(sagaType: string, options: SagaOptions = {}) {
    this.deadlineAt = workflowNow() + (options.deadlineMs ?? DEFAULT_SAGA_DEADLINE_HOURS * HOUR_MS);
    this.state = {
      sagaType,
      status: 'RUNNING',
      stepsDone: [],
      compensationsRun: [],
      compensationsPending: [],
      deadline: new Date(this.deadlineAt).toISOString(),
      cancelRequested: false,
    };
    if (options.resumedAfter) {
      this.state.stepsDone = [...options.resumedAfter];
      this.pointOfNoReturn();
    }
    CancellationScope.current().cancelRequested.catch(() => {
      this.state.cancelRequested = true;
    });
    setHandler(sagaStatusQuery, () => ({
      ...this.state,
      stepsDone: [...this.state.stepsDone],
      compensationsRun: [...this.state.compensationsRun],
      compensationsPending: [...this.state.compensationsPending],
    }));
    setHandler(retryCompensationSignal, () => {
      this.retryRequests++;
    });
    upsertSearchAttributes([
      { key: SAGA_TYPE, value: sagaType },
      { key: SAGA_STATUS, value: 'RUNNING' },
    ]);
  }

  get status(): SagaStatus {
    return this.state.status;
  }

  /** The steps done so far (what a continued run carries). */
  stepsDone(): string[] {
    return [...this.state.stepsDone];
  }

  /**
   * Activities for forward steps: transient faults are retried until the saga's deadline
   * (a schedule-to-close timeout from the time left at each call), never a fixed count.
   */
  stepActivities<A extends object>(options: ActivityOptions = STEP_OPTIONS): A {
    return new Proxy({} as A, {
      get: (_target, name) => {
        if (typeof name !== 'string') return undefined;
        return (...args: unknown[]) => {
          const left = this.deadlineAt - workflowNow();
          if (left <= 0) {
            return Promise.reject(
              ApplicationFailure.create({
                type: 'DeadlineExceeded',
                message: `${this.state.sagaType} saga passed its deadline (${this.state.deadline}) before step ${name}`,
                nonRetryable: true,
              }),
            );
          }
          const acts = proxyActivities<Record<string, (...a: unknown[]) => Promise<unknown>>>({
            ...options,
            scheduleToCloseTimeout: left,
          });
          return (acts[name] as (...a: unknown[]) => Promise<unknown>)(...args);
        };
      },
    });
  }

  /** Runs a wait for a person (a review decision); its time does not count against the deadline. */
  async outsideDeadline<T>(wait: () => Promise<T>): Promise<T> {
    const started = workflowNow();
    try {
      return await wait();
    } finally {
      this.deadlineAt += workflowNow() - started;
      this.state.deadline = new Date(this.deadlineAt).toISOString();
    }
  }

  /** Registers `compensation` (if any), then runs the step and records it as done. */
  async step<T>(name: string, run: () => Promise<T>, compensation?: Compensation): Promise<T> {
    if (this.pastPointOfNoReturn) {
      if (compensation) throw new Error(`step ${name} registers a compensation after the point of no return`);
      // Must-complete: a cancel no longer reaches it.
      const result = await CancellationScope.nonCancellable(run);
      this.state.stepsDone.push(name);
      return result;
    }
    if (compensation) this.compensations.push(compensation);
    const result = await run();
    this.state.stepsDone.push(name);
    return result;
  }

  /**
   * Money has irrevocably moved: nothing is undone any more. The compensation stack is
   * cleared and every later step runs to completion in a non-cancellable scope, so a
   * cancel from here on is answered (the saga completes and says so), not obeyed.
   */
  pointOfNoReturn(): void {
    this.compensations.length = 0;
    this.pastPointOfNoReturn = true;
    this.state.pointOfNoReturn = this.state.stepsDone[this.state.stepsDone.length - 1] ?? '';
  }

  /** Runs the saga body; on failure undoes what was done and rethrows the original error. */
  async run<T>(body: () => Promise<T>): Promise<T> {
    try {
      const result = await body();
      if (this.state.cancelRequested) log.info('cancel answered: the saga was past its point of no return', { ...this.state });
      this.setStatus('COMPLETED');
      return result;
    } catch (err) {
      // Not a failure: the saga goes on in a new run (a resting order, a long confirmation wait bound their
      // history this way), with its status as it was.
      if (err instanceof ContinueAsNew) throw err;
      this.state.failure = describe(err);
      if (this.compensations.length === 0) {
        this.setStatus('FAILED');
      } else {
        await this.compensate(this.state.failure, err instanceof ApplicationFailure ? (err.type ?? undefined) : undefined);
        this.setStatus('COMPENSATED');
      }
      // A fault retried until the retry policy stopped at the deadline is not the step's answer.
      if (
        err instanceof ActivityFailure &&
        err.cause instanceof ApplicationFailure &&
        !err.cause.nonRetryable &&
        !ANSWERS.includes(err.cause.type ?? '')
      ) {
        throw ApplicationFailure.create({
          type: 'DeadlineExceeded',
          message: `${this.state.sagaType} saga gave up on ${err.activityType} at its deadline ${this.state.deadline}: ${err.cause.message}`,
          nonRetryable: true,
        });
      }
      // Surface the domain error itself (err.cause.type on the client), not the activity wrapper.
      if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw err.cause;
      if (
        err instanceof ActivityFailure &&
        err.cause instanceof TimeoutFailure &&
        err.cause.timeoutType === 'SCHEDULE_TO_CLOSE'
      ) {
        throw ApplicationFailure.create({
          type: 'DeadlineExceeded',
          message: `${this.state.sagaType} saga gave up on ${err.activityType} at its deadline ${this.state.deadline}: ${describe(err)}`,
          nonRetryable: true,
        });
      }
      throw err;
    }
  }

  private async compensate(reason: string, failureType?: string): Promise<void> {
    this.setStatus('COMPENSATING');
    // The reason's text may carry personal data (a reviewer's words, a sender's name): the query
    // and the history have it; the log gets its type only.
    log.warn('saga compensating', { sagaType: this.state.sagaType, failureType: failureType ?? 'unknown' });
    await CancellationScope.nonCancellable(async () => {
      for (;;) {
        this.state.compensationsPending = this.compensations.map((c) => c.name).reverse();
        const next = this.compensations[this.compensations.length - 1];
        if (!next) return;
        try {
          await next.run(reason);
          this.compensations.pop();
          this.state.compensationsRun.push(next.name);
          this.state.compensationError = undefined;
        } catch (err) {
          this.state.compensationError = `${next.name}: ${describe(err)}`;
          this.setStatus('COMPENSATION_FAILED');
          log.error('compensation failed; waiting for retryCompensation', {
            compensation: next.name,
            error: this.state.compensationError,
          });
          const seen = this.retryRequests;
          await condition(() => this.retryRequests > seen);
          this.setStatus('COMPENSATING');
        }
      }
    });
  }

  private setStatus(status: SagaStatus): void {
    this.state.status = status;
    upsertSearchAttributes([{ key: SAGA_STATUS, value: status }]);
  }
}
