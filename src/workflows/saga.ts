import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  log,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { SAGA_STATUS, SAGA_TYPE } from '../temporal/search-attributes';

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

  constructor(sagaType: string) {
    this.state = { sagaType, status: 'RUNNING', stepsDone: [], compensationsRun: [], compensationsPending: [] };
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

  /** Registers `compensation` (if any), then runs the step and records it as done. */
  async step<T>(name: string, run: () => Promise<T>, compensation?: Compensation): Promise<T> {
    if (compensation) this.compensations.push(compensation);
    const result = await run();
    this.state.stepsDone.push(name);
    return result;
  }

  /** Runs the saga body; on failure undoes what was done and rethrows the original error. */
  async run<T>(body: () => Promise<T>): Promise<T> {
    try {
      const result = await body();
      this.setStatus('COMPLETED');
      return result;
    } catch (err) {
      this.state.failure = describe(err);
      if (this.compensations.length === 0) {
        this.setStatus('FAILED');
      } else {
        await this.compensate(this.state.failure);
        this.setStatus('COMPENSATED');
      }
      // Surface the domain error itself (err.cause.type on the client), not the activity wrapper.
      if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) throw err.cause;
      throw err;
    }
  }

  private async compensate(reason: string): Promise<void> {
    this.setStatus('COMPENSATING');
    log.warn('saga compensating', { sagaType: this.state.sagaType, reason });
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
