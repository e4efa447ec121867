import { randomUUID } from 'node:crypto';
import { executeTransaction, getTransaction, TransactionFailedError } from '../../src/client/transactions';
import type { TransactionRequest, TxMode } from '../../src/domain/operations';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { availableOf, fundedSide, overdraw, sideOps, snapshot, useSharedWorker, type Side } from './tx-fixtures';

const ctx = useTestContext({ custody: true });
const shared = useSharedWorker(ctx);

async function failureOf(p: Promise<unknown>): Promise<TransactionFailedError> {
  const err = await p.then(
    (v) => new Error(`expected a failure, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof TransactionFailedError)) throw err;
  return err;
}

const rowsOf = (s: Side, txId: string) =>
  count(s.pool, `SELECT 1 FROM tx_operations WHERE transaction_id = $1 AND state = 'applied'`, [txId]);
/** Prepared transactions of this file's two databases (other test files prepare their own). */
const preparedHere = () =>
  count(ctx.pool, 'SELECT 1 FROM pg_prepared_xacts WHERE database IN ($1, $2)', [
    ctx.databaseName,
    `${ctx.databaseName}_custody`,
  ]);
const changesOf = (s: Side, txId: string) => count(s.pool, `SELECT 1 FROM change_log WHERE workflow_id = $1`, [`tx-${txId}`]);

afterEach(async () => {
  expect(await checkTxcoreInvariants(ctx.pool)).toEqual([]);
  expect(await checkTxcoreInvariants(ctx.custodyPool!)).toEqual([]);
});

describe.each<TxMode>(['atomic', 'saga'])('mode %s on one resource', (mode) => {
  test('the 4-operation batch commits: transfer, hold, partial capture, release', async () => {
    const s = await fundedSide(ctx.pool);
    const id = `t-${randomUUID()}`;
    const result = await executeTransaction(shared.target(), { id, mode, operations: sideOps(s, 'ledger', 0) });
    expect(result.status).toBe('COMMITTED');
    expect(result.operations.map((o) => o.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
    expect(await availableOf(s)).toBe(850n);
    expect(await availableOf(s, s.other)).toBe(100n);
    // transfer posted, hold placed, captured, released: one entry each
    expect(await changesOf(s, id)).toBe(4);
    const shown = await getTransaction(shared.target(), id);
    expect(shown?.status).toBe('COMMITTED');
  });

  test.each([0, 1, 2, 3])('a failure at position %i leaves nothing of the batch', async (position) => {
    const s = await fundedSide(ctx.pool);
    const before = await snapshot(s);
    const ops = sideOps(s, 'ledger', 0);
    ops[position] = overdraw(s, 'ledger');
    if (position === 1) ops.splice(2, 2); // capture and release name the hold at 1
    const id = `t-${randomUUID()}`;
    const err = await failureOf(executeTransaction(shared.target(), { id, mode, operations: ops }));
    expect(err.type).toBe('InsufficientFunds');
    expect(err.transaction?.status).toBe('ROLLED_BACK');
    expect(await snapshot(s)).toBe(before);
    expect(await rowsOf(s, id)).toBe(0);
    if (mode === 'atomic') {
      expect(await changesOf(s, id)).toBe(0);
      expect(await count(s.pool, 'SELECT 1 FROM tx_operations WHERE transaction_id = $1', [id])).toBe(0);
    } else {
      // compensated: every step before the failure ran and was undone
      expect(err.transaction?.operations.slice(0, position).map((o) => o.status)).toEqual(Array(position).fill('undone'));
    }
  });
});

describe('mode 2pc across ledger and custody', () => {
  const batch = (l: Side, c: Side): TransactionRequest['operations'] => [
    sideOps(l, 'ledger', 0)[0]!,
    ...sideOps(c, 'custody', 0)
      .slice(1)
      .map((op) => ({ ...op, params: renumber(op.params) })),
  ];
  // custody's hold is operation 1 of the whole list
  const renumber = (p: unknown) => {
    const params = { ...(p as Record<string, unknown>) };
    if ('holdOperation' in params) params.holdOperation = 1;
    return params;
  };

  test('commits on both databases; nothing stays prepared', async () => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const id = `t-${randomUUID()}`;
    const result = await executeTransaction(shared.target(), { id, mode: '2pc', operations: batch(l, c) });
    expect(result).toMatchObject({ status: 'COMMITTED', decision: 'commit' });
    expect(await availableOf(l)).toBe(900n);
    expect(await availableOf(c)).toBe(950n);
    expect(await changesOf(l, id)).toBe(1);
    expect(await changesOf(c, id)).toBe(3);
    expect(await preparedHere()).toBe(0);
  });

  test.each([0, 1, 2, 3])('a participant failing to prepare (position %i) rolls both back', async (position) => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const before = [await snapshot(l), await snapshot(c)];
    const ops = batch(l, c);
    ops[position] = overdraw(position === 0 ? l : c, position === 0 ? 'ledger' : 'custody');
    if (position === 1) ops.splice(2, 2);
    const id = `t-${randomUUID()}`;
    const err = await failureOf(executeTransaction(shared.target(), { id, mode: '2pc', operations: ops }));
    expect(err.type).toBe('InsufficientFunds');
    expect(err.transaction).toMatchObject({ status: 'ROLLED_BACK', decision: 'rollback' });
    expect([await snapshot(l), await snapshot(c)]).toEqual(before);
    expect(await changesOf(l, id)).toBe(0);
    expect(await changesOf(c, id)).toBe(0);
    expect(await preparedHere()).toBe(0);
  });
});

describe('mode saga across ledger and custody', () => {
  // A transfer on the ledger, then custody's hold (operation 1), partial capture and release.
  const batch = (l: Side, c: Side): TransactionRequest['operations'] => [
    sideOps(l, 'ledger', 0)[0]!,
    ...sideOps(c, 'custody', 0)
      .slice(1)
      .map((op) => ({
        ...op,
        params: 'holdOperation' in (op.params as object) ? { ...(op.params as object), holdOperation: 1 } : op.params,
      })),
  ];

  test('commits on both databases', async () => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const id = `t-${randomUUID()}`;
    const result = await executeTransaction(shared.target(), { id, mode: 'saga', operations: batch(l, c) });
    expect(result.status).toBe('COMMITTED');
    expect([await availableOf(l), await availableOf(c)]).toEqual([900n, 950n]);
  });

  test.each([0, 1, 2, 3])('a failure at position %i is compensated on both databases', async (position) => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const before = [await snapshot(l), await snapshot(c)];
    const ops = batch(l, c);
    ops[position] = overdraw(position === 0 ? l : c, position === 0 ? 'ledger' : 'custody');
    if (position === 1) ops.splice(2, 2);
    const id = `t-${randomUUID()}`;
    const err = await failureOf(executeTransaction(shared.target(), { id, mode: 'saga', operations: ops }));
    expect(err.type).toBe('InsufficientFunds');
    expect(err.transaction?.status).toBe('ROLLED_BACK');
    expect(err.transaction?.operations.slice(0, position).map((o) => o.status)).toEqual(Array(position).fill('undone'));
    expect([await snapshot(l), await snapshot(c)]).toEqual(before);
    expect((await rowsOf(l, id)) + (await rowsOf(c, id))).toBe(0);
  });
});

describe('bad input is rejected before any write', () => {
  const target = () => shared.target();
  const expectRejected = async (request: unknown, message: RegExp, type = 'ValidationError') => {
    const before = await count(ctx.pool, 'SELECT 1 FROM change_log');
    const err = await executeTransaction(target(), request as TransactionRequest).then(
      () => new Error('accepted'),
      (e: unknown) => e as Error,
    );
    expect(err.name).toBe(type);
    expect(err.message).toMatch(message);
    expect(await count(ctx.pool, 'SELECT 1 FROM change_log')).toBe(before);
  };
  const u = randomUUID();
  const op = { type: 'ledger.transfer', params: { debitAccountId: u, creditAccountId: randomUUID(), asset: 'USD', amount: '1' } };

  test('an unknown operation or resource', async () => {
    await expectRejected(
      { id: 'b1', operations: [{ ...op, type: 'ledger.teleport' }] },
      /operations\.0\.type: type must be one of/,
    );
    await expectRejected(
      { id: 'b2', operations: [{ ...op, resource: 'moon' }] },
      /operations\.0\.resource: resource must be one of/,
    );
  });

  test('parameters failing their schema name the field', async () => {
    await expectRejected(
      { id: 'b3', operations: [{ ...op, params: { ...op.params, amount: '-5' } }] },
      /operations\.0\.params\.amount/,
    );
    await expectRejected(
      { id: 'b4', operations: [op, { type: 'ledger.capture', params: { amount: '1' } }] },
      /operations\.1\.params\.holdId/,
    );
    await expectRejected(
      { id: 'b5', operations: [{ type: 'ledger.release', params: { holdOperation: 0 } }] },
      /holdOperation: must name an earlier/,
    );
  });

  test('an empty or oversized operation list, a timeout out of range', async () => {
    await expectRejected({ id: 'b6', operations: [] }, /operations: operations must not be empty/);
    await expectRejected({ id: 'b7', operations: Array(1001).fill(op) }, /at most 1000 operations/);
    await expectRejected({ id: 'b8', timeoutSeconds: 0, operations: [op] }, /timeoutSeconds: timeoutSeconds must be at least 1/);
    await expectRejected({ id: 'b9', timeoutSeconds: 86_400, operations: [op] }, /timeoutSeconds must be at most 3600/);
  });

  test('atomic across two resources is refused, naming the modes that can', async () => {
    await expectRejected({ id: 'b10', mode: 'atomic', operations: [op, { ...op, resource: 'custody' }] }, /use mode saga or 2pc/);
  });

  test('a transaction id reused with different operations is an IdempotencyConflict', async () => {
    const s = await fundedSide(ctx.pool);
    const t = shared.target();
    const id = `t-${randomUUID()}`;
    const ops = sideOps(s, 'ledger', 0);
    await (async () => {
      await executeTransaction(t, { id, operations: ops });
      // the identical request again is the same transaction: nothing moves twice
      expect((await executeTransaction(t, { id, operations: ops })).status).toBe('COMMITTED');
      const changed = [{ ...ops[0]!, params: { ...(ops[0]!.params as object), amount: '101' } }, ...ops.slice(1)];
      const err = await executeTransaction(t, { id, operations: changed }).then(
        () => new Error('accepted'),
        (e: unknown) => e as Error,
      );
      expect(err.name).toBe('IdempotencyConflict');
    })();
    expect(await availableOf(s)).toBe(850n);
  });
});
