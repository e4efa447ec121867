import { Context } from '@temporalio/activity';
import type { Pool } from 'pg';
import { postTransfer, releaseHold } from '../../src/db/ledger';
import { findTransfer } from '../../src/db/queries/transfers';
import { withTransaction } from '../../src/db/transaction';
import { captureIdFor, holdIdFor, stepId } from '../../src/domain/ids';
import type { SagaLedgerTestActivities } from '../workflows/saga-test-activities';

/**
 * The reserve-and-capture saga's fenced inverse, on the real ledger: in one transaction
 * it releases the hold (or tombstones it; the hold lock orders it against a capture) and,
 * if the saga's capture landed, posts the captured money back.
 */
export function createSagaLedgerTestActivities(deps: { pool: Pool }): SagaLedgerTestActivities {
  return {
    async sagaTestReleaseOrRefund(i: { holdKey: string; captureKey: string; workflowId: string }) {
      const attempt = Context.current().info.attempt;
      const recorded = { workflowId: i.workflowId, activity: 'sagaTestReleaseOrRefund', attempt };
      return withTransaction(
        deps.pool,
        'sagaTestReleaseOrRefund',
        async (tx) => {
          const { released } = await releaseHold(tx, holdIdFor(i.holdKey));
          const capture = await findTransfer(tx, captureIdFor(i.captureKey));
          if (capture) {
            await postTransfer(tx, {
              id: stepId(`${i.captureKey}:refund`),
              debitAccountId: capture.credit_account_id,
              creditAccountId: capture.debit_account_id,
              asset: capture.asset,
              amount: BigInt(capture.amount),
              workflowId: i.workflowId,
              step: `${i.captureKey}:refund`,
            });
          }
          return { released: released.toString(), refunded: capture !== undefined };
        },
        recorded,
      );
    },
  };
}
