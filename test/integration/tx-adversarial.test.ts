import { randomUUID } from 'node:crypto';
import { executeTransaction, getTransaction, TransactionFailedError } from '../../src/client/transactions';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { resolveInDoubt } from '../../src/db/recovery';
import { parseTransaction, transactionWorkflowId, type TransactionRequest, type TxMode } from '../../src/domain/operations';
import { executeTransaction as executeTransactionWorkflow } from '../../src/workflows';
import { balances, count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { availableOf, fundedSide, snapshot, useSharedWorker, type Side } from './tx-fixtures';

const ctx = useTestContext({ custody: true });
const shared = useSharedWorker(ctx);

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

/** The error a request ends with (a failed transaction, or bad input refused by the client). */
async function errorOf(
  p: Promise<unknown>,
): Promise<Error & { type?: string; transaction?: TransactionFailedError['transaction'] }> {
  return p.then(
    (v) => {
      throw new Error(`expected a failure, got ${JSON.stringify(v)}`);
    },
    (e: unknown) => e as Error,
  );
}

const transfer = (s: Side, resource: 'ledger' | 'custody', amount = '1', to = s.other) => ({
  type: 'ledger.transfer',
  resource,
  params: { debitAccountId: s.user, creditAccountId: to, asset: 'USD', amount },
});
const hold = (s: Side, resource: 'ledger' | 'custody', amount: string) => ({
  type: 'ledger.hold',
  resource,
  params: { debitAccountId: s.user, creditAccountId: s.escrow, asset: 'USD', amount },
});
const entriesOf = (s: Side, txId: string) => count(s.pool, `SELECT 1 FROM change_log WHERE workflow_id = $1`, [`tx-${txId}`]);

describe('captures never take more than the hold', () => {
  test.each<TxMode>(['atomic', 'saga'])('%s: a second capture past the hold fails and leaves nothing', async (mode) => {
    const s = await fundedSide(ctx.pool);
    const before = await snapshot(s);
    const id = `t-${randomUUID()}`;
    const err = await errorOf(
      executeTransaction(shared.target(), {
        id,
        mode,
        operations: [
          hold(s, 'ledger', '200'),
          { type: 'ledger.capture', params: { holdOperation: 0, amount: '150' } },
          { type: 'ledger.capture', params: { holdOperation: 0, amount: '51' } },
        ],
      }),
    );
    expect(err.message).toMatch(/capture of 51 exceeds the 50 left on hold/);
    expect(err.transaction?.status).toBe('ROLLED_BACK');
    expect(await snapshot(s)).toBe(before);
  });

  test('two transactions capturing one hold at once: the hold is never overdrawn', async () => {
    const s = await fundedSide(ctx.pool);
    const placed = await executeTransaction(shared.target(), { id: `t-${randomUUID()}`, operations: [hold(s, 'ledger', '200')] });
    const holdId = placed.operations[0]?.ref as string;
    const capture = (amount: string) =>
      executeTransaction(shared.target(), {
        id: `t-${randomUUID()}`,
        operations: [{ type: 'ledger.capture', params: { holdId, amount } }],
      }).then(
        (r) => r.status,
        (e: Error) => e.message,
      );
    const outcomes = await Promise.all([capture('150'), capture('150')]);
    expect(outcomes.filter((o) => o === 'COMMITTED')).toHaveLength(1);
    expect(outcomes.find((o) => o !== 'COMMITTED')).toMatch(/capture of 150 exceeds the 50 left/);
    const { rows } = await ctx.pool.query<{ captured: string }>('SELECT captured FROM holds WHERE id = $1', [holdId]);
    expect(rows[0]?.captured).toBe('150');
    expect((await balances(ctx.pool, s.user)).balance).toBe(850n);
    await executeTransaction(shared.target(), {
      id: `t-${randomUUID()}`,
      operations: [{ type: 'ledger.release', params: { holdId } }],
    });
  });
});

describe('a frozen account moves nothing out, also within one list', () => {
  test('freeze, then transfer out of it, in one atomic list: refused, and the freeze rolled back with it', async () => {
    const s = await fundedSide(ctx.pool);
    const before = await snapshot(s);
    const id = `t-${randomUUID()}`;
    const err = await errorOf(
      executeTransaction(shared.target(), {
        id,
        operations: [
          { type: 'account.freeze', params: { accountId: s.user, reason: 'compliance' } },
          transfer(s, 'ledger', '10'),
        ],
      }),
    );
    expect(err.type).toBe('InvalidState');
    expect(err.message).toMatch(/is frozen \(compliance\); nothing moves out of it/);
    expect(await snapshot(s)).toBe(before);
    const { rows } = await ctx.pool.query<{ frozen: boolean }>('SELECT frozen FROM accounts WHERE id = $1', [s.user]);
    expect(rows[0]?.frozen).toBe(false);
    expect(await entriesOf(s, id)).toBe(0);
  });

  test('hold, freeze, capture in one list: the capture out of the frozen account is refused too', async () => {
    const s = await fundedSide(ctx.pool);
    const before = await snapshot(s);
    const err = await errorOf(
      executeTransaction(shared.target(), {
        id: `t-${randomUUID()}`,
        operations: [
          hold(s, 'ledger', '100'),
          { type: 'account.freeze', params: { accountId: s.user, reason: 'compliance' } },
          { type: 'ledger.capture', params: { holdOperation: 0, amount: '100' } },
        ],
      }),
    );
    expect(err.message).toMatch(/is frozen \(compliance\); nothing moves out of it/);
    expect(await snapshot(s)).toBe(before);
  });
});

describe('the list size limit', () => {
  test('1,000 operations commit in one atomic transaction; 1,001 are refused before anything is written', async () => {
    const s = await fundedSide(ctx.pool, 5000n);
    const id = `t-${randomUUID()}`;
    const operations = Array.from({ length: 1000 }, () => transfer(s, 'ledger'));
    const result = await executeTransaction(shared.target(), { id, operations });
    expect(result.status).toBe('COMMITTED');
    expect(result.operations.filter((o) => o.status === 'applied')).toHaveLength(1000);
    expect(await availableOf(s)).toBe(4000n);
    expect(await entriesOf(s, id)).toBe(1000);
    const again = `t-${randomUUID()}`;
    const err = await errorOf(
      executeTransaction(shared.target(), { id: again, operations: [...operations, transfer(s, 'ledger')] }),
    );
    expect(err.name).toBe('ValidationError');
    expect(err.message).toMatch(/operations: operations may hold at most 1000 operations/);
    expect(await availableOf(s)).toBe(4000n);
    expect(await getTransaction(shared.target(), again)).toBeUndefined();
  });

  test('1,000 operations over two databases commit by 2pc; nothing stays prepared', async () => {
    const l = await fundedSide(ctx.pool, 5000n);
    const c = await fundedSide(ctx.custodyPool!, 5000n);
    const id = `t-${randomUUID()}`;
    const operations = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? transfer(l, 'ledger') : transfer(c, 'custody')));
    const result = await executeTransaction(shared.target(), { id, mode: '2pc', operations });
    expect(result).toMatchObject({ status: 'COMMITTED', decision: 'commit' });
    expect([await availableOf(l), await availableOf(c)]).toEqual([4500n, 4500n]);
  });
});

describe('odd ids', () => {
  test('upper-case and padded UUIDs, a padded transaction id: the canonical request, so a retry joins it', async () => {
    const s = await fundedSide(ctx.pool);
    const id = `t-${randomUUID()}`;
    const shouting = {
      id: `  ${id}  `,
      operations: [
        {
          type: 'ledger.transfer',
          params: {
            debitAccountId: ` ${s.user.toUpperCase()} `,
            creditAccountId: s.other.toUpperCase(),
            asset: ' usd ',
            amount: '7',
          },
        },
      ],
    };
    const first = await executeTransaction(shared.target(), shouting);
    const retry = await executeTransaction(shared.target(), { id, operations: [transfer(s, 'ledger', '7')] });
    expect(first.status).toBe('COMMITTED');
    expect(retry.operations[0]?.ref).toBe(first.operations[0]?.ref);
    expect(await availableOf(s)).toBe(993n);
    expect((await getTransaction(shared.target(), ` ${id}`))?.status).toBe('COMMITTED');
  });

  test.each([
    ['unicode in the transaction id', { id: 't-ünï', params: {} }, /id: id may hold letters, digits/],
    ['NUL in the transaction id', { id: 't-\u0000', params: {} }, /id: id may hold letters, digits/],
    [
      'NUL in an account id',
      { id: 'ok', params: { accountId: `${randomUUID()}\u0000` } },
      /operations\.1\.params\.accountId: must be a UUID/,
    ],
    [
      'NUL in a reason',
      { id: 'ok', params: { reason: 'stop\u0000now' } },
      /operations\.1\.params\.reason: reason must not hold control characters/,
    ],
  ])('%s is refused, naming the field, before anything is written', async (_what, bad, message) => {
    const s = await fundedSide(ctx.pool);
    const before = await snapshot(s);
    const entries = await count(ctx.pool, 'SELECT 1 FROM change_log');
    const id = bad.id === 'ok' ? `t-${randomUUID()}` : bad.id;
    const err = await errorOf(
      executeTransaction(shared.target(), {
        id,
        mode: 'saga',
        operations: [
          transfer(s, 'ledger', '5'),
          { type: 'account.freeze', params: { accountId: s.user, reason: 'review', ...bad.params } },
        ],
      }),
    );
    expect(err.name).toBe('ValidationError');
    expect(err.message).toMatch(message);
    expect(await snapshot(s)).toBe(before);
    expect(await count(ctx.pool, 'SELECT 1 FROM change_log')).toBe(entries);
  });

  test('a reason in any script is kept as written', async () => {
    const s = await fundedSide(ctx.pool);
    const reason = 'Prüfung — 審査中 🚫';
    await executeTransaction(shared.target(), {
      id: `t-${randomUUID()}`,
      operations: [{ type: 'account.freeze', params: { accountId: s.user, reason } }],
    });
    const { rows } = await ctx.pool.query<{ frozen_reason: string }>('SELECT frozen_reason FROM accounts WHERE id = $1', [
      s.user,
    ]);
    expect(rows[0]?.frozen_reason).toBe(reason);
  });
});

describe('one transaction id, two different requests', () => {
  test.each<TxMode>(['atomic', 'saga', '2pc'])(
    '%s: sent at once, one wins, the other is an IdempotencyConflict',
    async (mode) => {
      const l = await fundedSide(ctx.pool);
      const c = await fundedSide(ctx.custodyPool!);
      const id = `t-${randomUUID()}`;
      const ops = (amount: string): TransactionRequest['operations'] =>
        mode === 'atomic' ? [transfer(l, 'ledger', amount)] : [transfer(l, 'ledger', amount), transfer(c, 'custody', amount)];
      const outcomes = await Promise.all(
        ['10', '20'].map((amount) =>
          executeTransaction(shared.target(), { id, mode, operations: ops(amount) }).then(
            (r) => ({ amount, status: r.status }),
            (e: Error) => ({ amount, status: e.name }),
          ),
        ),
      );
      expect(outcomes.map((o) => o.status).sort()).toEqual(['COMMITTED', 'IdempotencyConflict']);
      const won = BigInt(outcomes.find((o) => o.status === 'COMMITTED')!.amount);
      expect(await availableOf(l)).toBe(1000n - won);
      if (mode !== 'atomic') expect(await availableOf(c)).toBe(1000n - won);
    },
  );

  test.each<TxMode>(['atomic', 'saga', '2pc'])(
    '%s: a second run under another workflow (the first one’s history gone) cannot add operations to the id',
    async (mode) => {
      const l = await fundedSide(ctx.pool);
      const c = await fundedSide(ctx.custodyPool!);
      const id = `t-${randomUUID()}`;
      const first =
        mode === 'atomic' ? [transfer(l, 'ledger', '10')] : [transfer(l, 'ledger', '10'), transfer(c, 'custody', '10')];
      await executeTransaction(shared.target(), { id, mode, operations: first });
      // Same id, the first operations and one more, started as Temporal would after its retention dropped the first run.
      const input = parseTransaction({ id, mode, operations: [...first, transfer(l, 'ledger', '20')] });
      const handle = await ctx.temporal.workflow.start(executeTransactionWorkflow, {
        taskQueue: shared.taskQueue,
        workflowId: `again-${id}`,
        args: [input],
      });
      const err = await errorOf(handle.result());
      expect((err.cause as { type?: string } | undefined)?.type).toBe('IdempotencyConflict');
      expect(await availableOf(l)).toBe(990n);
      if (mode !== 'atomic') expect(await availableOf(c)).toBe(990n);
    },
  );
  test('a workflow under the id whose request cannot be read is not joined as if it were this request', async () => {
    const s = await fundedSide(ctx.pool);
    const id = `t-${randomUUID()}`;
    // Started by hand under the id's workflow, with no request the client can read back (and no memo).
    await ctx.temporal.workflow.start('executeTransaction', {
      taskQueue: `nobody-${id}`,
      workflowId: transactionWorkflowId(id),
      args: [{ id, note: 'not a request' }],
    });
    try {
      const err = await errorOf(executeTransaction(shared.target(), { id, operations: [transfer(s, 'ledger', '5')] }));
      expect(err.name).toBe('IdempotencyConflict');
      expect(err.message).toMatch(/cannot be compared/);
      expect(await availableOf(s)).toBe(1000n);
    } finally {
      await ctx.temporal.workflow.getHandle(transactionWorkflowId(id)).terminate('test over');
    }
  });
});

describe('recovery racing a 2pc transaction', () => {
  test.each([
    ['knows the workflow runs', true],
    ['believes the workflow gone', false],
  ])('recovery that %s: both databases end the same way, nothing stays prepared', async (_what, running) => {
    // Each transaction its own accounts: 2pc transactions on the same accounts in both databases wait on
    // each other across databases until the prepare's lock timeout (see the README), which is not this race.
    const ids = Array.from({ length: 4 }, () => `t-${randomUUID()}`);
    const sides = await Promise.all(
      ids.map(async () => ({ l: await fundedSide(ctx.pool), c: await fundedSide(ctx.custodyPool!) })),
    );
    let racing = true;
    const resolved: string[] = [];
    const recovery = (async () => {
      while (racing) {
        const results = await resolveInDoubt(
          { ledger: ctx.pool, custody: ctx.custodyPool },
          { isWorkflowRunning: () => Promise.resolve(running) },
        );
        for (const r of results) if (r.outcome !== 'left') resolved.push(`${r.gid} ${r.outcome}`);
      }
    })();
    const outcomes = await Promise.all(
      ids.map((id, i) =>
        executeTransaction(shared.target(), {
          id,
          mode: '2pc',
          operations: [transfer(sides[i]!.l, 'ledger', '1'), transfer(sides[i]!.c, 'custody', '1')],
        }).then(
          (r) => r.status as string,
          (e: TransactionFailedError) => {
            // Only recovery rolls these back, and the failure says so.
            expect(e.type).toBe('RolledBackByRecovery');
            return e.transaction?.status ?? e.name;
          },
        ),
      ),
    );
    racing = false;
    await recovery;
    if (running) expect(outcomes).toEqual(ids.map(() => 'COMMITTED'));
    for (const [i, id] of ids.entries()) {
      expect(['COMMITTED', 'ROLLED_BACK']).toContain(outcomes[i]);
      const moved = outcomes[i] === 'COMMITTED' ? 1n : 0n;
      // Never committed on one side and rolled back on the other.
      expect([await availableOf(sides[i]!.l), await availableOf(sides[i]!.c)]).toEqual([1000n - moved, 1000n - moved]);
      const { rows } = await ctx.pool.query<{ decision: string }>('SELECT decision FROM tx_transactions WHERE id = $1', [id]);
      expect(rows[0]?.decision).toBe(moved ? 'commit' : 'rollback');
      for (const pool of [ctx.pool, ctx.custodyPool!]) {
        const applied = await count(pool, `SELECT 1 FROM tx_operations WHERE transaction_id = $1 AND state = 'applied'`, [id]);
        expect(applied).toBe(Number(moved));
      }
    }
    expect(resolved.every((r) => !r.endsWith('failed'))).toBe(true);
  });
});
