import { randomBytes, randomUUID } from 'node:crypto';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import type { Worker } from '@temporalio/worker';
import { FAULT_KINDS } from '../../src/chaos/plan';
import { IN_PROCESS_FAULTS } from '../../src/chaos/target';
import { withDatabase } from '../../src/db/admin';
import { createPool } from '../../src/db/pool';
import { createWorker } from '../../src/worker-factory';
import { ChainSimProcess } from '../helpers/chain-sim';
import { useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';
import { gatewayFor } from './withdrawal-fixtures';

/**
 * The API's test routes: `txmgr chaos`'s workload run through the API on the stack it serves
 * (this file's databases, the shared dev server, a worker of the file's task queue and a chain
 * simulator), with the faults a client can inject.
 */
const ctx = useTestContext({ custody: true });
const sim = new ChainSimProcess(150);
const TOTP_KEY = randomBytes(32);
const idem = () => randomUUID();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let taskQueue = '';
/** A run as GET /test/runs/{id} answers it (the response's JSON). */
type RunBody = Awaited<ReturnType<ApiUnderTest['call']>>['body'];

// The file's worker, on pools named as a deployed worker's ('txmgr-worker'): the chaos run terminates those sessions.
beforeAll(async () => {
  await sim.start();
  taskQueue = ctx.taskQueue();
  const pool = createPool({ databaseUrl: ctx.databaseUrl, max: 24, applicationName: 'txmgr-worker' });
  const custodyPool = createPool({
    databaseUrl: withDatabase(ctx.databaseUrl, `${ctx.databaseName}_custody`),
    max: 24,
    applicationName: 'txmgr-worker',
  });
  const worker: Worker = await createWorker({
    connection: ctx.connection,
    namespace: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
    taskQueue,
    pool,
    custodyPool,
    logger: ctx.logger,
    workflowBundle: ctx.bundle,
    shutdownGraceMs: 2_000,
    maxConcurrentActivities: 24,
    chain: gatewayFor(sim),
    totpKey: TOTP_KEY,
  });
  const running = worker.run();
  ctx.onClose(async () => {
    worker.shutdown();
    await running;
    await pool.end();
    await custodyPool.end();
  });
}, 60_000);
afterAll(() => sim.dispose());

test('with the flag off (the default) the test routes do not exist', async () => {
  const api = await startTestApi(ctx, taskQueue);
  try {
    const key = await api.key(['admin']);
    for (const route of ['test/load', 'test/chaos']) {
      const r = await api.call('POST', route, { key, idempotencyKey: idem(), body: { seed: 1, sagas: 12 } });
      expect({ route, status: r.status, type: r.body.error?.type }).toEqual({ route, status: 404, type: 'NotFound' });
    }
    expect((await api.call('GET', 'test/runs/0123456789ab', { key })).status).toBe(404);
    const doc = await api.call('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths).filter((p) => p.includes('/test/'))).toEqual([]);
  } finally {
    await api.close();
  }
});

describe('with TXMGR_API_TEST_ROUTES=on', () => {
  let api: ApiUnderTest;
  let key: string;
  beforeAll(async () => {
    api = await startTestApi(ctx, taskQueue, { testRoutes: true, testChainSimUrl: sim.url }, { totpKey: TOTP_KEY });
    key = await api.key(['admin']);
  });
  afterAll(async () => api?.close());

  const post = (route: 'load' | 'chaos', body: unknown) =>
    api.call('POST', `test/${route}`, { key, idempotencyKey: idem(), body });

  /** Polls the run until it has ended; returns its last view. */
  async function ended(id: string, timeoutMs = 100_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await api.call('GET', `test/runs/${id}`, { key });
      expect(r.status).toBe(200);
      if (r.body.state !== 'running') return r.body;
      if (Date.now() > deadline) throw new Error(`run ${id} still running: ${JSON.stringify(r.body.progress)}`);
      await sleep(500);
    }
  }

  /** The sagas of the report add up, and every one ended as its inputs call for. */
  function expectConsistent(run: RunBody) {
    const report = run.report;
    const total = report.sagasByKind.reduce((n: number, g: { count: number }) => n + g.count, 0);
    expect({ total, sagas: report.sagas, started: run.progress.sagasStarted }).toEqual({
      total: report.sagasPlanned,
      sagas: report.sagasPlanned,
      started: report.sagasPlanned,
    });
    expect(report.sagasByKind.filter((g: { asExpected: string }) => g.asExpected === 'no')).toEqual([]);
    expect(report.violations).toEqual([]);
    expect(report.markdown).toContain('Result: **PASS**');
  }

  test('bad bodies and ids are refused naming the field; a run needs a worker on the task queue', async () => {
    const cases: Array<[route: 'load' | 'chaos', body: unknown, field: string, says: RegExp]> = [
      ['load', { seed: 1.5, sagas: 12 }, 'seed', /seed must be a whole number/],
      ['load', { seed: 1, sagas: 501 }, 'sagas', /at most 500/],
      ['load', { seed: 1, sagas: '12' }, 'sagas', /sagas must be a whole number/],
      ['load', { seed: 1 }, 'sagas', /sagas must be a whole number/],
      ['load', { seed: 1, sagas: 3 }, 'sagas', /at least 7/],
      ['load', { seed: 1, sagas: 12, faults: ['chain-fault'] }, 'faults', /unknown field faults/],
      ['chaos', { seed: 1, sagas: 12, faults: ['worker-sigkill'] }, 'faults.0', /terminate-backends, chain-fault/],
      ['chaos', { seed: 1, sagas: 12, faults: [] }, 'faults', /at least one fault/],
    ];
    for (const [route, body, field, says] of cases) {
      const r = await post(route, body);
      expect({ body, status: r.status, type: r.body.error?.type, field: r.body.error?.field }).toEqual({
        body,
        status: 422,
        type: 'ValidationError',
        field,
      });
      expect(r.body.error.message).toMatch(says);
    }
    // The routes are in the OpenAPI document, which still validates.
    const doc = await api.call('GET', '/openapi.json');
    expect(Object.keys(doc.body.paths).filter((p) => p.includes('/test/'))).toEqual([
      '/api/v1/transactions/test/load',
      '/api/v1/transactions/test/chaos',
      '/api/v1/transactions/test/runs/{id}',
    ]);
    expect(await validateOpenApi(structuredClone(doc.body))).toMatchObject({ valid: true });

    const broken = await api.call('POST', 'test/load', { key, idempotencyKey: idem(), raw: '{"seed": 1,' });
    expect([broken.status, broken.body.error.type]).toEqual([400, 'MalformedJson']);
    const badId = await api.call('GET', 'test/runs/..%2Fstatus', { key });
    expect([badId.status, badId.body.error.field]).toEqual([422, 'id']);
    const unknown = await api.call('GET', 'test/runs/0123456789ab', { key });
    expect([unknown.status, unknown.body.error.type]).toEqual([404, 'NotFound']);
    // Read scope is not enough to start one.
    const reader = await api.key(['read', 'execute', 'operate']);
    const forbidden = await api.call('POST', 'test/load', { key: reader, idempotencyKey: idem(), body: { seed: 1, sagas: 12 } });
    expect(forbidden.status).toBe(403);

    const idle = await startTestApi(ctx, ctx.taskQueue(), { testRoutes: true });
    try {
      const adminKey = await idle.key(['admin']);
      const r = await idle.call('POST', 'test/load', { key: adminKey, idempotencyKey: idem(), body: { seed: 1, sagas: 12 } });
      expect([r.status, r.body.error.type]).toEqual([503, 'NoWorkers']);
    } finally {
      await idle.close();
    }
  });

  test('a load run: 202 with its URL, a second POST meanwhile is 409, and it passes with its own accounts', async () => {
    const started = await post('load', { seed: 5, sagas: 12 });
    expect(started.status).toBe(202);
    const id: string = started.body.id;
    expect(started.headers.get('location')).toBe(`/api/v1/transactions/test/runs/${id}`);
    expect(started.body).toMatchObject({ kind: 'load', state: 'running', seed: 5, sagas: 12, faults: [], report: null });

    const second = await post('chaos', { seed: 6, sagas: 12 });
    expect([second.status, second.body.error.type]).toEqual([409, 'RunInProgress']);
    expect(second.body.error.message).toContain(`test run ${id} (load) is still running`);

    const run = await ended(id);
    expect({ state: run.state, error: run.error }).toEqual({ state: 'passed', error: null });
    expectConsistent(run);
    expect(run.report.sagas).toBeGreaterThanOrEqual(12);
    expect(run.report.faultsInjected).toEqual([]);
    // Every planned fault is listed as skipped, none injected.
    expect(run.report.faultsSkipped).toHaveLength(15);
    expect(new Set(run.report.faultsSkipped.map((f: { kind: string }) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of run.report.faultsSkipped) expect(f.reason).toMatch(/does not own|a load run injects no faults/);
    expect(run.report.markdown).toContain('### Faults skipped');
    // The accounts it opened are its own: every user account of this database has the run's prefix.
    const { rows } = await ctx.pool.query<{ owner: string }>(
      `SELECT DISTINCT owner FROM accounts WHERE kind = 'user' AND owner NOT LIKE $1`,
      [`chaos-${id}-%`],
    );
    expect(rows).toEqual([]);
    const mine = await ctx.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM accounts WHERE owner LIKE $1`, [
      `chaos-${id}-%`,
    ]);
    expect(mine.rows[0]!.n).toBeGreaterThan(20);
  });

  test('a chaos run with the in-process faults (sessions terminated, chain faults) passes; the others are skipped, with why', async () => {
    const started = await post('chaos', { seed: 7, sagas: 21 });
    expect(started.status).toBe(202);
    const run = await ended(started.body.id);
    expect({ state: run.state, error: run.error }).toEqual({ state: 'passed', error: null });
    expectConsistent(run);
    expect(run.faults).toEqual([...IN_PROCESS_FAULTS]);
    // Every kind of saga ran, withdrawals too (a chain simulator is configured).
    const kinds = new Set(run.report.sagasByKind.map((g: { kind: string }) => g.kind));
    expect([...kinds].sort()).toEqual(['campaign', 'config', 'deposit', 'trade', 'transaction', 'withdrawal']);
    const injected = run.report.faultsInjected as Array<{ kind: string; detail: string }>;
    expect(injected.map((f) => f.kind).sort()).toEqual([
      'chain-fault',
      'chain-fault',
      'chain-fault',
      'chain-fault',
      'terminate-backends',
      'terminate-backends',
    ]);
    for (const f of injected) expect(f.detail).not.toMatch(/could not be injected/);
    expect(injected.find((f) => f.kind === 'terminate-backends')?.detail).toMatch(/worker session\(s\) terminated/);
    const skipped = run.report.faultsSkipped as Array<{ kind: string; reason: string }>;
    expect(skipped.length + injected.length).toBe(15);
    for (const f of skipped) expect(f.reason).toMatch(/this server does not own/);
  });
});
