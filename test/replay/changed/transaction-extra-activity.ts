/** executeTransaction with one activity added before it starts: must fail replay of every recorded mode. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { TransactionInput, TransactionResult } from '../../../src/domain/operations';
import { executeTransaction as current } from '../../../src/workflows/transaction';

const acts = proxyActivities<Activities>({ startToCloseTimeout: '10 seconds' });

export async function executeTransaction(input: TransactionInput): Promise<TransactionResult> {
  await acts.validateTransaction(input);
  await acts.validateTransaction(input);
  return current(input);
}
