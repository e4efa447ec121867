import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  proxyActivities,
  setHandler,
  TimeoutFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { TransactionInput, TransactionResult } from '../domain/operations';
import { SAGA_STATUS, SAGA_TYPE } from '../temporal/search-attributes';
import { COMPENSATION_OPTIONS, STEP_OPTIONS } from './retry-policies';
import { Saga } from './saga';
import { runTwoPhase } from './transaction-2pc';

export const transactionStatusQuery = defineQuery<TransactionResult>('transactionStatus');

const undo = proxyActivities<Activities>(COMPENSATION_OPTIONS);

/** The failure a caller sees: the domain error's type and message, with the transaction's state as details. */
function failure(err: unknown, state: TransactionResult): ApplicationFailure {
  let type = 'TransactionFailed';
  let message = err instanceof Error ? err.message : String(err);
  if (err instanceof ApplicationFailure) type = err.type ?? type;
  else if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) {
    type = err.cause.type ?? type;
    message = err.cause.message;
  } else if (err instanceof ActivityFailure && err.cause instanceof TimeoutFailure) {
    type = 'DeadlineExceeded';
    message = `${err.activityType} did not finish in time (${err.cause.timeoutType})`;
  }
  state.error = { type, message };
  return ApplicationFailure.create({ type, message, nonRetryable: true, details: [state] });
}

/**
 * Executes an operation list as one transaction: `atomic` (one database transaction),
 * `saga` (a step per operation, its inverse registered first) or `2pc` (prepare on every
 * resource, record the decision, then commit or roll back each). Input parsed by the client.
 */
export async function executeTransaction(input: TransactionInput): Promise<TransactionResult> {
  const state: TransactionResult = {
    id: input.id,
    mode: input.mode,
    status: 'RUNNING',
    operations: (input.operations ?? []).map((op, position) => ({
      position,
      type: op.type,
      resource: op.resource,
      status: 'not applied',
    })),
  };
  setHandler(transactionStatusQuery, () => state);
  const timeoutMs = (input.timeoutSeconds ?? 300) * 1000;
  try {
    if (input.mode === 'saga') return await runSaga(input, state, timeoutMs);
    upsertSearchAttributes([
      { key: SAGA_TYPE, value: `transaction-${input.mode}` },
      { key: SAGA_STATUS, value: 'RUNNING' },
    ]);
    if (input.mode === '2pc') await runTwoPhase(input, state, timeoutMs);
    else await runAtomic(input, state, timeoutMs);
    upsertSearchAttributes([{ key: SAGA_STATUS, value: state.status }]);
    return state;
  } catch (err) {
    if (state.status === 'RUNNING') state.status = input.mode === 'saga' ? 'ROLLED_BACK' : 'FAILED';
    if (input.mode !== 'saga') upsertSearchAttributes([{ key: SAGA_STATUS, value: state.status }]);
    throw failure(err, state);
  }
}

async function runAtomic(input: TransactionInput, state: TransactionResult, timeoutMs: number): Promise<void> {
  const acts = proxyActivities<Activities>({ ...STEP_OPTIONS, scheduleToCloseTimeout: timeoutMs });
  try {
    state.operations = await acts.runAtomic(input);
    state.status = 'COMMITTED';
  } catch (err) {
    // One database transaction: nothing of the batch stayed.
    state.status = 'ROLLED_BACK';
    throw err;
  }
}

async function runSaga(input: TransactionInput, state: TransactionResult, timeoutMs: number): Promise<TransactionResult> {
  const saga = new Saga(`transaction-${input.mode}`, { deadlineMs: timeoutMs });
  const steps = saga.stepActivities<Activities>();
  await steps.validateTransaction(input);
  try {
    await saga.run(async () => {
      for (const [position, operation] of input.operations.entries()) {
        const s = { txId: input.id, position, operation };
        state.operations[position] = await saga.step(`op-${position}`, () => steps.applyTxOperation(s), {
          name: `undo-op-${position}`,
          run: async () => {
            const undone = await undo.undoTxOperation(s);
            state.operations[position] = { ...state.operations[position], ...undone };
          },
        });
      }
    });
    state.status = 'COMMITTED';
    return state;
  } catch (err) {
    state.status = saga.status === 'COMPENSATION_FAILED' ? 'COMPENSATION_FAILED' : 'ROLLED_BACK';
    throw err;
  }
}
