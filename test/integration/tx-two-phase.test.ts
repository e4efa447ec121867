import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { executeTransaction, getTransaction, recoveryRun, recoveryStatus, startTransaction } from '../../src/client/transactions';
import { applyOperation } from '../../src/db/operations';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { insertTxTransaction } from '../../src/db/queries/tx-transactions';
import { prepareTransaction } from '../../src/db/two-phase';
import { parseTransaction, transactionWorkflowId, type TransactionRequest } from '../../src/domain/operations';
import { gidFor } from '../../src/domain/tx-ids';
import { recoverInDoubt } from '../../src/workflows';
import { createWorker } from '../../src/worker-factory';
import { count } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { availableOf, fundedSide, snapshot, type Side } from './tx-fixtures';

const ctx = useTestContext({ custody: true });

const prepared = () =>
  count(ctx.pool, 'SELECT 1 FROM pg_prepared_xacts WHERE database IN ($1, $2)', [
    ctx.databaseName,
    `${ctx.databaseName}_custody`,
  ]);

afterEach(async () => {
  expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
  expect(await checkTxcoreInvariants(ctx.custodyPool!)).toEqual([]);
  expect(await prepared()).toBe(0);
});

const transfer = (s: Side, resource: 'ledger' | 'custody', amount = '100') => ({
  type: 'ledger.transfer',
  resource,
  params: { debitAccountId: s.user, creditAccountId: s.other, asset: 'USD', amount },
});

/** Prepares a participant by hand, as a coordinator that died would leave it. */
async function prepareByHand(s: Side, resource: 'ledger' | 'custody', gidKey: string, txId: string) {
  const op = parseTransaction({ id: txId, operations: [transfer(s, resource)] }).operations[0]!;
  await prepareTransaction(s.pool, gidFor(gidKey, resource), txId, async (tx) => {
    await applyOperation(tx, { txId, position: 0 }, op);
  });
}

test('the worker stopped between prepare and commit: after a restart both commit, nothing stays prepared', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const request: TransactionRequest = { id, mode: '2pc', operations: [transfer(l, 'ledger'), transfer(c, 'custody')] };
  // Hold custody's prepare back, so the decision can be blocked before the workflow records it.
  const custodyLock = await ctx.custodyPool!.connect();
  const decisionLock = await ctx.pool.connect();
  const first = await createWorker({
    connection: ctx.connection,
    namespace: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
    taskQueue: tq,
    pool: ctx.pool,
    custodyPool: ctx.custodyPool,
    logger: ctx.logger,
    workflowBundle: ctx.bundle,
    shutdownGraceMs: 500,
  });
  const running = first.run();
  try {
    await custodyLock.query('BEGIN');
    await custodyLock.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [c.user]);
    await startTransaction({ temporal: ctx.temporal, taskQueue: tq }, request);
    await eventually(async () => (await prepared()) === 1);
    await decisionLock.query('BEGIN');
    await decisionLock.query('SELECT 1 FROM tx_transactions WHERE id = $1 FOR UPDATE', [id]);
    await custodyLock.query('COMMIT');
    await eventually(async () => (await prepared()) === 2);
    // The worker dies while recording the decision: its backend goes with it.
    let backend: number | undefined;
    await eventually(async () => {
      const { rows } = await ctx.pool.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%UPDATE tx_transactions%'`,
      );
      backend = rows[0]?.pid;
      return backend !== undefined;
    });
    first.shutdown();
    await ctx.pool.query('SELECT pg_terminate_backend($1)', [backend]);
    await running;
    expect(await prepared()).toBe(2);
    await decisionLock.query('ROLLBACK');
  } finally {
    await custodyLock.query('ROLLBACK').catch(() => undefined);
    await decisionLock.query('ROLLBACK').catch(() => undefined);
    custodyLock.release();
    decisionLock.release();
    if (first.getState() === 'RUNNING') first.shutdown();
    await running.catch(() => undefined);
  }
  const result = await ctx.withWorker(
    tq,
    () => ctx.temporal.workflow.getHandle(`tx-${id}`).result() as Promise<{ status: string }>,
  );
  expect(result.status).toBe('COMMITTED');
  expect(await availableOf(l)).toBe(900n);
  expect(await availableOf(c)).toBe(900n);
});

test('a prepared transaction orphaned on purpose is found and rolled back by the scheduled recovery workflow', async () => {
  const c = await fundedSide(ctx.custodyPool!);
  const before = await snapshot(c);
  const gidKey = randomUUID();
  await prepareByHand(c, 'custody', gidKey, `orphan-${gidKey}`);
  const status = await recoveryStatus({ ledger: ctx.pool, custody: ctx.custodyPool, temporal: ctx.temporal });
  expect(status).toEqual([
    expect.objectContaining({
      gid: gidFor(gidKey, 'custody'),
      resource: 'custody',
      action: 'rollback',
      reason: expect.stringMatching(/orphan/),
    }),
  ]);
  const tq = ctx.taskQueue();
  const summary = await ctx.withWorker(tq, () =>
    ctx.temporal.workflow.execute(recoverInDoubt, { taskQueue: tq, workflowId: `recovery-${randomUUID()}` }),
  );
  expect(summary).toEqual({ resolved: 1, left: 0, failed: 0 });
  expect(await snapshot(c)).toBe(before);
});

test('recovery commits from a recorded decision and rolls back one past its deadline; a live one is left alone', async () => {
  const l = await fundedSide(ctx.pool);
  const l2 = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const record = (txId: string, gidKey: string, deadlineAt: Date) =>
    insertTxTransaction(ctx.pool, {
      id: txId,
      workflowId: `tx-${txId}`,
      gidKey,
      mode: '2pc',
      requestHash: 'test',
      resources: ['ledger', 'custody'],
      deadlineAt,
    });
  const [decided, expired, live] = [randomUUID(), randomUUID(), randomUUID()];
  await record(decided, decided, new Date(Date.now() + 600_000));
  await ctx.pool.query(`UPDATE tx_transactions SET decision = 'commit', decided_at = now(), decided_by = 'test' WHERE id = $1`, [
    decided,
  ]);
  await prepareByHand(l, 'ledger', decided, decided);
  await record(expired, expired, new Date(Date.now() - 1000));
  await prepareByHand(c, 'custody', expired, expired);
  await record(live, live, new Date(Date.now() + 600_000));
  await prepareByHand(l2, 'ledger', live, live);
  // Without Temporal, a live transaction without a decision is left to its workflow (and its deadline).
  const results = await recoveryRun({ ledger: ctx.pool, custody: ctx.custodyPool });
  const byTx = Object.fromEntries(results.map((r) => [r.transactionId, r.outcome]));
  expect(byTx).toEqual({ [decided]: 'committed', [expired]: 'rolled back', [live]: 'left' });
  expect(await availableOf(l)).toBe(900n);
  expect(await availableOf(c)).toBe(1000n);
  expect((await ctx.pool.query('SELECT decision FROM tx_transactions WHERE id = $1', [expired])).rows[0]).toEqual({
    decision: 'rollback',
  });
  // With Temporal it sees that no workflow runs for the live one: an orphan, rolled back.
  const second = await recoveryRun({ ledger: ctx.pool, custody: ctx.custodyPool, temporal: ctx.temporal });
  expect(second.map((r) => [r.transactionId, r.outcome])).toEqual([[live, 'rolled back']]);
  expect(await availableOf(l)).toBe(900n);
  expect(await availableOf(l2)).toBe(1000n);
});

test('a transaction whose prepare cannot finish within its timeout is rolled back on both databases', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const before = [await snapshot(l), await snapshot(c)];
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const blocker = await ctx.custodyPool!.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [c.user]);
    setTimeout(() => void blocker.query('COMMIT').catch(() => undefined), 5_000);
    const err = await ctx.withWorker(tq, () =>
      executeTransaction(
        { temporal: ctx.temporal, taskQueue: tq },
        { id, mode: '2pc', timeoutSeconds: 2, operations: [transfer(l, 'ledger'), transfer(c, 'custody')] },
      ).then(
        () => new Error('committed') as Error & { transaction?: { status: string; decision?: string } },
        (e: unknown) => e as Error & { transaction?: { status: string; decision?: string } },
      ),
    );
    expect(err.name).toBe('DeadlineExceeded');
    expect(err.transaction).toMatchObject({ status: 'ROLLED_BACK', decision: 'rollback' });
    // The abandoned custody attempt may prepare after the decision: its rollback waits it out.
    await eventually(async () => (await prepared()) === 0, 30_000);
    expect([await snapshot(l), await snapshot(c)]).toEqual(before);
    const shown = await ctx.withWorker(tq, () => getTransaction({ temporal: ctx.temporal, taskQueue: tq }, id));
    expect(shown?.status).toBe('ROLLED_BACK');
  } finally {
    await blocker.query('ROLLBACK').catch(() => undefined);
    blocker.release();
  }
});

test('a prepare whose answer was lost is retried: the committed result still says what every operation did', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const real = createActivities({ pool: ctx.pool, custodyPool: ctx.custodyPool, logger: ctx.logger });
  const lost = new Set<string>();
  // Each participant prepares, then its answer is lost once: the retry finds the gid prepared and runs nothing.
  const prepareParticipant = async (p: Parameters<typeof real.prepareParticipant>[0]) => {
    const answer = await real.prepareParticipant(p);
    if (!lost.has(p.gid)) {
      lost.add(p.gid);
      throw ApplicationFailure.retryable(`answer of ${p.gid} lost on the way back`, 'LostAnswer');
    }
    return answer;
  };
  const result = await ctx.withWorker(
    tq,
    () =>
      executeTransaction(
        { temporal: ctx.temporal, taskQueue: tq },
        { id, mode: '2pc', operations: [transfer(l, 'ledger', '40'), transfer(c, 'custody', '60')] },
      ),
    { extraActivities: { prepareParticipant } },
  );
  expect(lost.size).toBe(2);
  expect(result.status).toBe('COMMITTED');
  expect(result.operations).toEqual([
    expect.objectContaining({ position: 0, resource: 'ledger', status: 'applied', ref: expect.any(String) }),
    expect.objectContaining({ position: 1, resource: 'custody', status: 'applied', ref: expect.any(String) }),
  ]);
  expect(result.operations.map((o) => o.detail)).toEqual([
    expect.stringContaining('0.40 USD'),
    expect.stringContaining('0.60 USD'),
  ]);
  expect(await availableOf(l)).toBe(960n);
  expect(await availableOf(c)).toBe(940n);
});

test('concurrent 2pc transactions over the same rows of both databases all commit: none waits on a prepared one that waits on it', async () => {
  const l = await fundedSide(ctx.pool, 100_000n);
  const c = await fundedSide(ctx.custodyPool!, 100_000n);
  const tq = ctx.taskQueue();
  const n = 12;
  // Prepared in parallel, one could prepare on the ledger and another on custody, each then waiting
  // for the rows the other keeps locked while prepared, until both deadlines (then both roll back).
  const requests: TransactionRequest[] = Array.from({ length: n }, () => ({
    id: `t-${randomUUID()}`,
    mode: '2pc',
    timeoutSeconds: 90,
    operations: [transfer(l, 'ledger', '1'), transfer(c, 'custody', '1')],
  }));
  const results = await ctx.withWorker(
    tq,
    () => Promise.all(requests.map((r) => executeTransaction({ temporal: ctx.temporal, taskQueue: tq }, r))),
    { maxConcurrentActivities: 8 },
  );
  expect(results.map((r) => r.status)).toEqual(Array.from({ length: n }, () => 'COMMITTED'));
  expect(await availableOf(l)).toBe(100_000n - BigInt(n));
  expect(await availableOf(c)).toBe(100_000n - BigInt(n));
});

/** Holds a row lock on `account` in `pool` until the returned release runs (or `ms` passed). */
async function holdRow(pool: import('pg').Pool, account: string, ms: number): Promise<() => Promise<void>> {
  const blocker = await pool.connect();
  await blocker.query('BEGIN');
  await blocker.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [account]);
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await blocker.query('ROLLBACK').catch(() => undefined);
    blocker.release();
  };
  setTimeout(() => void release(), ms);
  return release;
}

const participantRow = async (pool: import('pg').Pool, txId: string) =>
  (await pool.query<{ state: string }>('SELECT state FROM tx_participants WHERE transaction_id = $1', [txId])).rows[0]?.state;

test('a refused first participant: the second never prepares, nothing of either stays', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const before = [await snapshot(l), await snapshot(c)];
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const err = await ctx.withWorker(tq, () =>
    executeTransaction(
      { temporal: ctx.temporal, taskQueue: tq },
      { id, mode: '2pc', operations: [transfer(l, 'ledger', '5000'), transfer(c, 'custody')] },
    ).catch((e: unknown) => e as Error & { transaction?: { status: string; decision?: string } }),
  );
  expect((err as Error).name).toBe('InsufficientFunds');
  expect((err as { transaction?: unknown }).transaction).toMatchObject({ status: 'ROLLED_BACK', decision: 'rollback' });
  // Custody was never asked to prepare: its rollback only fenced the gid.
  expect(await participantRow(ctx.custodyPool!, id)).toBe('aborted');
  expect(await count(ctx.custodyPool!, 'SELECT 1 FROM tx_operations WHERE transaction_id = $1', [id])).toBe(0);
  expect([await snapshot(l), await snapshot(c)]).toEqual(before);
});

test('a 2pc transaction cancelled while its first participant waits on a lock rolls back at once, leaving nothing prepared', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const before = [await snapshot(l), await snapshot(c)];
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const release = await holdRow(ctx.pool, l.user, 4_000);
  try {
    const outcome = await ctx.withWorker(tq, async () => {
      const target = { temporal: ctx.temporal, taskQueue: tq };
      const { workflowId } = await startTransaction(target, {
        id,
        mode: '2pc',
        operations: [transfer(l, 'ledger'), transfer(c, 'custody')],
      });
      const handle = ctx.temporal.workflow.getHandle(workflowId);
      // The ledger prepare is waiting on the held row.
      await eventually(
        async () =>
          (await count(ctx.pool, `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = $1`, [
            ctx.databaseName,
          ])) > 0,
        20_000,
      );
      await handle.cancel();
      await release();
      return handle.result().then(
        () => 'completed',
        (e: unknown) => e,
      );
    });
    expect((outcome as { cause?: { type?: string } }).cause?.type).toBe('Cancelled');
    const tx = await ctx.pool.query<{ decision: string | null }>('SELECT decision FROM tx_transactions WHERE id = $1', [id]);
    expect(tx.rows[0]?.decision).toBe('rollback');
    expect(await prepared()).toBe(0);
    expect([await snapshot(l), await snapshot(c)]).toEqual(before);
  } finally {
    await release();
  }
});

test('a first prepare that uses up most of the timeout: the second gets only the time left, the first is not kept prepared past the deadline', async () => {
  const l = await fundedSide(ctx.pool);
  const c = await fundedSide(ctx.custodyPool!);
  const before = [await snapshot(l), await snapshot(c)];
  const tq = ctx.taskQueue();
  const id = `t-${randomUUID()}`;
  const timeoutSeconds = 9;
  const real = createActivities({ pool: ctx.pool, custodyPool: ctx.custodyPool, logger: ctx.logger });
  // Custody cannot be reached (a fault, retried); the ledger prepares once its row is free, 7 s in.
  const prepareParticipant = async (p: Parameters<typeof real.prepareParticipant>[0]) => {
    if (p.resource === 'custody') throw ApplicationFailure.retryable('custody database unreachable', 'DatabaseUnavailable');
    return real.prepareParticipant(p);
  };
  const releaseLedger = await holdRow(ctx.pool, l.user, 7_000);
  try {
    type Failed = Error & { transaction?: { status: string; decision?: string } };
    const err = await ctx.withWorker<Failed>(
      tq,
      () =>
        executeTransaction(
          { temporal: ctx.temporal, taskQueue: tq },
          { id, mode: '2pc', timeoutSeconds, operations: [transfer(l, 'ledger'), transfer(c, 'custody')] },
        ).then(
          () => new Error('the transaction committed') as Failed,
          (e: unknown) => e as Failed,
        ),
      { extraActivities: { prepareParticipant } },
    );
    // Rolled back at the deadline (workflow time, not the test's): the ledger's prepared rows were
    // not held a second timeout long (before the fix it closed about 6 s past the deadline).
    const run = await ctx.temporal.workflow.getHandle(transactionWorkflowId(id)).describe();
    expect(run.closeTime!.getTime() - run.startTime.getTime()).toBeLessThan((timeoutSeconds + 5) * 1000);
    expect(err.name).toBe('DeadlineExceeded');
    expect(err.transaction).toMatchObject({ status: 'ROLLED_BACK', decision: 'rollback' });
    expect(await participantRow(ctx.pool, id)).toBe('aborted');
  } finally {
    await releaseLedger();
  }
  expect([await snapshot(l), await snapshot(c)]).toEqual(before);
});
