import { randomUUID } from 'node:crypto';
import { DbError } from '../../src/db/errors';
import { setLockTimeout, withTransaction } from '../../src/db/transaction';
import { isPrepared, prepareTransaction } from '../../src/db/two-phase';
import { balances, count, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

const ctx = useTestContext();
// This file's workers wait 1 s for a lock (the default is 10 s), so the blocked tries turn over quickly.
beforeAll(() => setLockTimeout(1_000));

/** A row lock held from another session (as a 2pc left prepared holds its rows), until `end()`. */
async function holdAccountLock(accountId: string): Promise<{ end(): Promise<void> }> {
  const blocker = await ctx.pool.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [accountId]);
  return {
    async end() {
      await blocker.query('COMMIT');
      blocker.release();
    },
  };
}

describe('a row lock held too long', () => {
  test('a transaction waits at most its lock timeout, then fails retryably and leaves a metrics row saying so', async () => {
    const account = await openUserAccount(ctx.pool);
    const lock = await holdAccountLock(account);
    const operation = `lockTimeoutProbe-${randomUUID().slice(0, 8)}`;
    try {
      const err = await withTransaction(
        ctx.pool,
        operation,
        (c) => c.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [account]),
        { lockTimeoutMs: 300 },
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DbError);
      expect(err).toMatchObject({ kind: 'lock_timeout', retryable: true, sqlstate: '55P03' });
    } finally {
      await lock.end();
    }
    const { rows } = await ctx.pool.query('SELECT success, sqlstate FROM transaction_metrics WHERE operation = $1', [operation]);
    expect(rows).toEqual([{ success: false, sqlstate: '55P03' }]);
  });

  test("a 2pc prepare waits the process's lock timeout (DB_LOCK_TIMEOUT_MS), not a fixed one", async () => {
    const account = await openUserAccount(ctx.pool);
    const lock = await holdAccountLock(account);
    const gid = `txmgr:${randomUUID()}:ledger`;
    const started = Date.now();
    try {
      const err = await prepareTransaction(ctx.pool, gid, randomUUID(), async (tx) => {
        await tx.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [account]);
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ kind: 'lock_timeout', retryable: true, sqlstate: '55P03' });
      // This file's 1 s, not the 10 s a prepare waited whatever the worker was told.
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(await isPrepared(ctx.pool, gid)).toBe(false);
    } finally {
      await lock.end();
    }
  });

  test('activities blocked on a held row lock give their worker slot back: other sagas go on, the blocked one credits once after', async () => {
    const tq = ctx.taskQueue();
    const locked = await openUserAccount(ctx.pool);
    const free = await openUserAccount(ctx.pool);
    const client = ctx.client(tq);
    const lock = await holdAccountLock(locked);
    let released = false;
    try {
      // One activity slot: before lock timeouts the blocked credit kept it until its 30 s
      // start-to-close, and every retry took it again, so nothing else ever ran.
      await ctx.withWorker(
        tq,
        async () => {
          const blockedRef = `LOCKED-${randomUUID().slice(0, 8)}`;
          const blocked = client.depositFiat({
            accountId: locked,
            asset: 'USD',
            amount: '10.00',
            bankReference: blockedRef,
            senderName: 'Held Payer',
          });
          const other = await client.depositFiat({
            accountId: free,
            asset: 'USD',
            amount: '20.00',
            bankReference: `FREE-${randomUUID().slice(0, 8)}`,
            senderName: 'Free Payer',
          });
          expect(other).toMatchObject({ status: 'CREDITED' });
          // The other deposit finished while the lock was still held.
          expect(released).toBe(false);
          expect(
            await count(ctx.pool, `SELECT 1 FROM transaction_metrics WHERE workflow_id = $1 AND sqlstate = '55P03'`, [
              `deposit-${blockedRef}`,
            ]),
          ).toBeGreaterThan(0);
          released = true;
          await lock.end();
          expect(await blocked).toMatchObject({ status: 'CREDITED' });
        },
        { maxConcurrentActivities: 1 },
      );
    } finally {
      if (!released) await lock.end();
    }
    expect((await balances(ctx.pool, locked)).balance).toBe(1000n);
    expect((await balances(ctx.pool, free)).balance).toBe(2000n);
  }, 120_000);
});
