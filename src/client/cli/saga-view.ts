import type { SagaState } from '../../workflows/saga';

/** What a deposit saga in this state waits for, worded for the person watching it. */
export function depositWaitingFor(state: SagaState, bankReference: string, inReview: boolean): string {
  if (state.status === 'COMPENSATING') return `undoing its steps (next: ${state.compensationsPending[0] ?? 'none'})`;
  if (state.status === 'COMPENSATION_FAILED') {
    return `a compensation keeps failing (${state.compensationError ?? 'unknown error'}) — an operator must fix it and send retryCompensation`;
  }
  if (state.status !== 'RUNNING') return state.status;
  const last = state.stepsDone[state.stepsDone.length - 1];
  if (inReview || last === 'screen') {
    if (inReview) {
      return `waiting for compliance review — approve with: txmgr deposit approve ${bankReference} --reviewer NAME (or reject)`;
    }
    return 'crediting the account';
  }
  switch (last) {
    case undefined:
      return 'validating the deposit';
    case 'validate':
      return 'recording the deposit';
    case 'record':
      return 'compliance screening';
    case 'approve':
      return 'crediting the account';
    case 'credit':
      return 'sending the notification';
    default:
      return `running the step after ${last}`;
  }
}

/** The same for any saga type: the step it is in, from its sagaStatus query. */
export function sagaWaitingFor(state: SagaState): string {
  if (state.status === 'COMPENSATING') return `undoing its steps (next: ${state.compensationsPending[0] ?? 'none'})`;
  if (state.status === 'COMPENSATION_FAILED') {
    return `a compensation keeps failing (${state.compensationError ?? 'unknown error'}) — an operator must fix it and send retryCompensation`;
  }
  const last = state.stepsDone[state.stepsDone.length - 1];
  return last ? `running the step after ${last}` : 'running its first step';
}
