import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { STEP_OPTIONS } from './retry-policies';

const acts = proxyActivities<Activities>({ ...STEP_OPTIONS, scheduleToCloseTimeout: '5 minutes' });

/** One in-doubt check (run by a Temporal Schedule the worker keeps): resolves prepared transactions from their decisions. */
export async function recoverInDoubt(): Promise<{ resolved: number; left: number; failed: number }> {
  const results = await acts.recoverInDoubtTransactions();
  return {
    resolved: results.filter((r) => r.outcome === 'committed' || r.outcome === 'rolled back').length,
    left: results.filter((r) => r.outcome === 'left').length,
    failed: results.filter((r) => r.outcome === 'failed').length,
  };
}
