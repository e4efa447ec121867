import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AccountView, OpenAccountInput } from '../activities/ledger';
import { STEP_OPTIONS } from './retry-policies';

const { openAccount: openAccountActivity } = proxyActivities<Activities>(STEP_OPTIONS);

/** Opens a user account; idempotent by account id. */
export async function openAccount(input: OpenAccountInput): Promise<AccountView> {
  return openAccountActivity(input);
}
