import { randomUUID } from 'node:crypto';
import { executeTransaction } from '../../src/client/transactions';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { transactionWorkflowId } from '../../src/domain/operations';
import { eventually, useTestContext } from '../helpers/context';
import { count } from '../helpers/fixtures';
import { databaseOutage } from '../helpers/outage';
import { availableOf, fundedSide, sideOps } from './tx-fixtures';

/**
 * A 2pc transaction whose custody participant cannot be reached while it prepares, for
 * longer than one prepare's 30 s budget: it waits (within the transaction's own timeout)
 * and commits on both resources once custody is back, rather than rolling back.
 */
const ctx = useTestContext({ custody: true });

/** A prepare attempt that starts after this one would start past 30 s of backoff (0.5 s doubling). */
const ATTEMPTS_PAST_30_SECONDS = 7;

test('custody unreachable during prepare for longer than a prepare budget: the transaction commits once it is back', async () => {
  const ledger = await fundedSide(ctx.pool);
  const custody = await fundedSide(ctx.custodyPool!);
  const tq = ctx.taskQueue();
  const id = `outage-${randomUUID()}`;
  await ctx.withWorker(
    tq,
    async () => {
      // Custody's prepare is held on a row lock, so the outage starts after the transaction began and before custody prepared.
      const lock = await ctx.custodyPool!.connect();
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [custody.user]);
      const running = executeTransaction(
        { temporal: ctx.temporal, taskQueue: tq },
        {
          id,
          mode: '2pc',
          timeoutSeconds: 600,
          operations: [...sideOps(ledger, 'ledger', 0), ...sideOps(custody, 'custody', 4)],
        },
      );
      running.catch(() => undefined);
      const handle = ctx.temporal.workflow.getHandle(transactionWorkflowId(id));
      const preparing = async (attempts: number) =>
        ((await handle.describe()).raw.pendingActivities ?? []).some(
          (a) => a.activityType?.name === 'prepareParticipant' && (a.attempt ?? 0) >= attempts,
        );
      await eventually(() => preparing(1));
      const down = databaseOutage(ctx.pool, `${ctx.databaseName}_custody`);
      await lock.query('ROLLBACK');
      lock.release();
      try {
        await eventually(() => preparing(ATTEMPTS_PAST_30_SECONDS), 180_000);
      } finally {
        await down.end();
      }
      const result = await running;
      expect(result).toMatchObject({ status: 'COMMITTED', decision: 'commit' });
    },
    { pool: ctx.appPool, custodyPool: ctx.appCustodyPool },
  );
  // Both sides moved once: 100 transferred and 50 captured of each user's 1000.
  expect(await availableOf(ledger)).toBe(850n);
  expect(await availableOf(custody)).toBe(850n);
  expect(
    await count(ctx.pool, 'SELECT 1 FROM pg_prepared_xacts WHERE database IN ($1, $2)', [
      ctx.databaseName,
      `${ctx.databaseName}_custody`,
    ]),
  ).toBe(0);
  expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
  expect(await checkTxcoreInvariants(ctx.custodyPool!)).toEqual([]);
}, 300_000);
