/**
 * The withdrawal saga with one deliberate, unversioned change: it holds the funds
 * before the security checks. Replaying recorded histories against it must fail with
 * a nondeterminism error — proof that the replay tests catch such a change.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import type { WithdrawalInput, WithdrawalResult } from '../../../src/domain/withdrawal';
import { STEP_OPTIONS } from '../../../src/workflows/retry-policies';
import { Saga } from '../../../src/workflows/saga';

const steps = proxyActivities<Activities>(STEP_OPTIONS);

export async function withdrawCrypto(input: WithdrawalInput): Promise<WithdrawalResult> {
  const saga = new Saga('withdrawal');
  return saga.run(async () => {
    const valid = await saga.step('validate', () => steps.validateWithdrawal(input));
    await saga.step('hold', () => steps.holdWithdrawal(valid));
    await saga.step('security', () => steps.checkWithdrawalSecurity({ valid, otpCiphertext: input.otpCiphertext }));
    const sent = await saga.step('broadcast', () => steps.broadcastWithdrawal({ withdrawalId: valid.withdrawalId }));
    return { ...valid, chainTxId: sent.txId ?? '', confirmations: sent.confirmations, status: 'COMPLETED' };
  });
}
