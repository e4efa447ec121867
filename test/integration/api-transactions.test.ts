import { randomUUID } from 'node:crypto';
import { applyOperation } from '../../src/db/operations';
import { checkTxcoreInvariants } from '../../src/db/invariants-txcore';
import { prepareTransaction } from '../../src/db/two-phase';
import { parseTransaction } from '../../src/domain/operations';
import { gidFor } from '../../src/domain/tx-ids';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';
import { availableOf, fundedSide, overdraw, sideOps, snapshot, useSharedWorker, type Side } from './tx-fixtures';

const ctx = useTestContext({ custody: true });
const shared = useSharedWorker(ctx);
const idem = () => randomUUID();
const txId = () => `api-${randomUUID()}`;

const transfer = (s: Side, resource: 'ledger' | 'custody', amount = '100') => ({
  type: 'ledger.transfer',
  resource,
  params: { debitAccountId: s.user, creditAccountId: s.other, asset: 'USD', amount },
});

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

describe('POST /execute and recovery over HTTP', () => {
  let api: ApiUnderTest;
  let key: string;
  beforeAll(async () => {
    api = await startTestApi(ctx, shared.taskQueue, { maxWaitSeconds: 60 });
    key = await api.key(['execute', 'operate', 'read']);
  });
  afterAll(async () => api?.close());

  const execute = (body: unknown) => api.call('POST', 'execute?wait=true', { key, idempotencyKey: idem(), body });
  const status = async (workflowId: string) => (await api.call('GET', `status/${workflowId}`, { key })).body;

  test('atomic: the batch commits in one database transaction; status shows each operation, no saga', async () => {
    const s = await fundedSide(ctx.pool);
    const id = txId();
    const r = await execute({ id, operations: sideOps(s, 'ledger', 0) });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      workflowId: `tx-${id}`,
      workflowType: 'executeTransaction',
      started: true,
      outcome: { status: 'COMPLETED', result: { id, mode: 'atomic', status: 'COMMITTED' } },
    });
    expect(await availableOf(s)).toBe(850n);
    expect(await status(`tx-${id}`)).toMatchObject({
      kind: 'transaction',
      status: 'COMPLETED',
      state: 'COMMITTED',
      saga: null,
      detail: { mode: 'atomic', operations: [0, 1, 2, 3].map((position) => ({ position, status: 'applied' })) },
      outcome: { status: 'COMPLETED' },
    });
  });

  test('saga across ledger and custody: commits, and a failing step is compensated with its state in the outcome', async () => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const ok = txId();
    const done = await execute({ id: ok, mode: 'saga', operations: [transfer(l, 'ledger'), transfer(c, 'custody')] });
    expect(done.status).toBe(200);
    expect(done.body.outcome).toMatchObject({ status: 'COMPLETED', result: { mode: 'saga', status: 'COMMITTED' } });
    expect(await status(`tx-${ok}`)).toMatchObject({
      state: 'COMMITTED',
      saga: { status: 'COMPLETED', stepsDone: expect.arrayContaining(['op-0', 'op-1']), compensationsRun: [] },
    });

    const [lBefore, cBefore] = [await snapshot(l), await snapshot(c)];
    const bad = txId();
    const failed = await execute({ id: bad, mode: 'saga', operations: [transfer(l, 'ledger'), overdraw(c, 'custody')] });
    expect(failed.status).toBe(200);
    expect(failed.body.outcome).toMatchObject({
      status: 'FAILED',
      error: { type: 'InsufficientFunds' },
      result: { status: 'ROLLED_BACK', operations: [{ position: 0, status: 'undone' }, { position: 1 }] },
    });
    expect(await status(`tx-${bad}`)).toMatchObject({
      state: 'ROLLED_BACK',
      // Each inverse is registered before its step: the failed step's own (a no-op) runs first.
      saga: { status: 'COMPENSATED', compensationsRun: ['undo-op-1', 'undo-op-0'] },
      outcome: { status: 'FAILED', error: { type: 'InsufficientFunds' } },
    });
    expect([await snapshot(l), await snapshot(c)]).toEqual([lBefore, cBefore]);
  });

  test('2pc across ledger and custody commits both; status shows the decision', async () => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const id = txId();
    const r = await execute({ id, mode: '2pc', operations: [transfer(l, 'ledger'), transfer(c, 'custody')] });
    expect(r.status).toBe(200);
    expect(r.body.outcome).toMatchObject({
      status: 'COMPLETED',
      result: { mode: '2pc', status: 'COMMITTED', decision: 'commit' },
    });
    expect(await availableOf(l)).toBe(900n);
    expect(await availableOf(c)).toBe(900n);
    expect(await status(`tx-${id}`)).toMatchObject({ state: 'COMMITTED', saga: null, detail: { decision: 'commit' } });
  });

  test('refusals: two resources in atomic mode is 422 naming the modes; an id reused for other operations is 409', async () => {
    const l = await fundedSide(ctx.pool);
    const c = await fundedSide(ctx.custodyPool!);
    const id = txId();
    const r = await execute({ id, mode: 'atomic', operations: [transfer(l, 'ledger'), transfer(c, 'custody')] });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatchObject({ type: 'ValidationError', field: 'mode' });
    expect(r.body.error.message).toMatch(/atomic runs on one resource.*saga or 2pc/);
    expect((await api.call('GET', `status/tx-${id}`, { key })).status).toBe(404);

    const number = await execute({
      id,
      operations: [{ ...transfer(l, 'ledger'), params: { ...transfer(l, 'ledger').params, amount: 100 } }],
    });
    expect(number.status).toBe(422);
    expect(number.body.error.field).toBe('operations.0.params.amount');

    expect((await execute({ id, operations: [transfer(l, 'ledger')] })).status).toBe(200);
    const again = await execute({ id, operations: [transfer(l, 'ledger', '200')] });
    expect(again.status).toBe(409);
    expect(again.body.error.type).toBe('IdempotencyConflict');
    expect(await availableOf(l)).toBe(900n);
    const audit = await ctx.pool.query(`SELECT outcome FROM api_audit WHERE target = $1 ORDER BY id`, [`tx-${id}`]);
    expect(audit.rows.map((r) => r.outcome)).toEqual(['ValidationError', 'ValidationError', 'ok', 'IdempotencyConflict']);
  });

  test('recovery/trigger rolls back a prepared transaction orphaned by a coordinator that died', async () => {
    const c = await fundedSide(ctx.custodyPool!);
    const before = await snapshot(c);
    const gidKey = randomUUID();
    const orphan = `orphan-${gidKey}`;
    const op = parseTransaction({ id: orphan, operations: [transfer(c, 'custody')] }).operations[0]!;
    await prepareTransaction(c.pool, gidFor(gidKey, 'custody'), orphan, async (tx) => {
      await applyOperation(tx, { txId: orphan, position: 0 }, op);
    });
    expect(await prepared()).toBe(1);

    const seen = await api.call('GET', 'recovery/status', { key });
    expect(seen.body).toMatchObject({
      custodyChecked: true,
      preparedTransactions: [{ gid: gidFor(gidKey, 'custody'), resource: 'custody', action: 'rollback' }],
    });
    expect(seen.body.preparedTransactions[0].reason).toMatch(/orphan/);

    const trigger = await api.call('POST', 'recovery/trigger', { key, idempotencyKey: idem() });
    expect(trigger.status).toBe(200);
    expect(trigger.body.prepared).toEqual([
      expect.objectContaining({ gid: gidFor(gidKey, 'custody'), action: 'rollback', outcome: 'rolled back' }),
    ]);
    expect(await prepared()).toBe(0);
    expect(await snapshot(c)).toBe(before);
    expect((await api.call('GET', 'recovery/status', { key })).body).toMatchObject({
      preparedTransactions: [],
      lastTrigger: { prepared: [expect.objectContaining({ outcome: 'rolled back' })] },
    });
  });
});
