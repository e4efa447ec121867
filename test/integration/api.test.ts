import { randomUUID } from 'node:crypto';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { withTransaction } from '../../src/db/transaction';
import { balances, count, openUserAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';

const ctx = useTestContext();
const ref = () => `API-${randomUUID().slice(0, 12)}`;
const idem = () => randomUUID();

function deposit(accountId: string, bankReference: string, amount = '25.50') {
  return {
    workflow_type: 'fiat_deposit',
    parameters: { accountId, asset: 'USD', amount, bankReference, senderName: 'Ann Payer' },
  };
}

describe('HTTP API over real Temporal and PostgreSQL', () => {
  let api: ApiUnderTest;
  let tq: string;
  let key: string;
  beforeAll(async () => {
    tq = ctx.taskQueue();
    api = await startTestApi(ctx, tq, { maxWaitSeconds: 20 });
    key = await api.key(['admin']);
  });
  afterAll(async () => api?.close());

  test('a deposit started with ?wait=true returns its outcome; status shows its steps; the same idempotency key credits once', async () => {
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const k = idem();
    await ctx.withWorker(tq, async () => {
      const [a, b] = await Promise.all([
        api.call('POST', 'execute-workflow?wait=true', { key, idempotencyKey: k, body: deposit(account, reference) }),
        api.call('POST', 'execute-workflow?wait=true', { key, idempotencyKey: k, body: deposit(account, reference) }),
      ]);
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(b.body).toEqual(a.body);
      expect(a.body).toMatchObject({
        workflowId: `deposit-${reference}`,
        outcome: { status: 'COMPLETED', result: { status: 'CREDITED', amount: '25.50', amountMinor: '2550' } },
      });
      const again = await api.call('POST', 'execute-workflow?wait=true', {
        key,
        idempotencyKey: k,
        body: deposit(account, reference),
      });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(a.body);
      const status = await api.call('GET', `status/deposit-${reference}`, { key });
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        status: 'COMPLETED',
        workflowType: 'depositFiat',
        kind: 'deposit',
        state: 'COMPLETED',
        detail: { status: 'CREDITED', amount: '25.50', amountMinor: '2550' },
        saga: { status: 'COMPLETED', stepsDone: ['validate', 'record', 'screen', 'credit', 'notify'], compensationsRun: [] },
        outcome: { status: 'COMPLETED' },
      });
    });
    expect((await balances(ctx.pool, account)).balance).toBe(2550n);
    expect(await count(ctx.pool, `SELECT 1 FROM deposits WHERE bank_reference = $1`, [reference])).toBe(1);
    // One audit row per request, each naming its target and outcome.
    const { rows } = await ctx.pool.query(
      `SELECT route, target, status_code, outcome FROM api_audit WHERE target = $1 OR target IS NULL ORDER BY id`,
      [`deposit-${reference}`],
    );
    expect(rows.filter((r) => r.target === `deposit-${reference}`).length).toBeGreaterThanOrEqual(1);
    expect(rows.some((r) => r.outcome === 'replayed')).toBe(true);
  });

  test('a deposit in review: approve by POST, a wait that times out leaves the saga running', async () => {
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    await ctx.withWorker(tq, async () => {
      const started = await api.call('POST', 'execute-workflow?wait=true&waitSeconds=2', {
        key,
        idempotencyKey: idem(),
        body: deposit(account, reference, '20000.00'),
      });
      expect(started.status).toBe(202);
      expect(started.body).toMatchObject({ workflowId: `deposit-${reference}`, outcome: null, waitedSeconds: 2 });
      const status = await api.call('GET', `status/deposit-${reference}`, { key });
      expect(status.body).toMatchObject({ status: 'RUNNING', saga: { status: 'RUNNING' }, outcome: null });
      const approved = await api.call('POST', `deposits/${reference}/approve?wait=true`, {
        key,
        idempotencyKey: idem(),
        body: { reviewer: 'olga', reason: 'documents checked' },
      });
      expect(approved.status).toBe(200);
      expect(approved.body).toMatchObject({ decision: 'approve', outcome: { status: 'COMPLETED' } });
    });
    expect((await balances(ctx.pool, account)).balance).toBe(2_000_000n);
  });

  test('a rejected deposit is an outcome (200 with its error), not an HTTP error', async () => {
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    await ctx.withWorker(tq, async () => {
      await api.call('POST', 'execute-workflow', { key, idempotencyKey: idem(), body: deposit(account, reference, '15000.00') });
      await eventually(async () =>
        (await api.call('GET', `status/deposit-${reference}`, { key })).body.saga?.stepsDone?.includes('screen'),
      );
      const rejected = await api.call('POST', `deposits/${reference}/reject?wait=true`, {
        key,
        idempotencyKey: idem(),
        body: { reviewer: 'olga' },
      });
      expect(rejected.status).toBe(200);
      expect(rejected.body.outcome).toMatchObject({ status: 'FAILED', error: { type: 'ComplianceRejected' } });
      const late = await api.call('POST', `deposits/${reference}/approve`, {
        key,
        idempotencyKey: idem(),
        body: { reviewer: 'olga' },
      });
      expect(late.status).toBe(409);
      expect(late.body.error.type).toBe('InvalidState');
    });
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('health is 200 with a worker polling and 503 once it stopped', async () => {
    await ctx.withWorker(tq, async () => {
      const up = await api.call('GET', 'health', { key });
      expect(up.status).toBe(200);
      expect(up.body.checks).toMatchObject({ postgres: { ok: true }, temporal: { ok: true }, workers: { ok: true } });
    });
    const down = await api.call('GET', 'health', { key });
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'unavailable', checks: { postgres: { ok: true }, workers: { ok: false } } });
  });

  test('metrics, performance, alerts, locks and recovery status answer from real rows', async () => {
    const metrics = await api.call('GET', 'metrics?since=1h', { key });
    expect(metrics.status).toBe(200);
    const credit = metrics.body.operations.find((o: { operation: string }) => o.operation.includes('credit'));
    expect(credit).toBeDefined();
    expect(credit.count).toBeGreaterThan(0);
    const perf = await api.call('GET', 'performance?windowSeconds=3600', { key });
    expect(perf.body.transactions).toBeGreaterThan(0);
    expect(perf.body.p99Ms).toBeGreaterThan(0);
    const alerts = await api.call('GET', 'alerts', { key });
    expect(alerts.body.alerts.map((a: { name: string }) => a.name)).toEqual(['error_rate', 'timeout_rate', 'p99_latency']);
    const locks = await api.call('GET', 'locks', { key });
    expect(locks.status).toBe(200);
    expect(Array.isArray(locks.body.holds)).toBe(true);
    const recovery = await api.call('GET', 'recovery/status', { key });
    expect(recovery.body).toMatchObject({ compensationFailed: [], preparedTransactions: [], custodyChecked: false });
  });

  test('recovery finds a saga parked in COMPENSATION_FAILED and its retry signal lets it compensate', async () => {
    await ctx.pool.query(
      `INSERT INTO compliance_deny_list (name, reason) VALUES ('mallory blocked', 'test list') ON CONFLICT DO NOTHING`,
    );
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const real = createActivities({ pool: ctx.pool, logger: ctx.logger });
    let calls = 0;
    const flaky = async (...args: Parameters<typeof real.rejectDepositRecord>) => {
      if (++calls === 1)
        throw ApplicationFailure.create({ type: 'InvalidState', message: 'injected: operator needed', nonRetryable: true });
      return real.rejectDepositRecord(...args);
    };
    await ctx.withWorker(
      tq,
      async () => {
        const body = deposit(account, reference);
        body.parameters.senderName = 'Mallory Blocked';
        await api.call('POST', 'execute-workflow', { key, idempotencyKey: idem(), body });
        const workflowId = `deposit-${reference}`;
        await eventually(async () => {
          const r = await api.call('GET', 'recovery/status', { key });
          return r.body.compensationFailed.some((w: { workflowId: string }) => w.workflowId === workflowId);
        });
        const trigger = await api.call('POST', 'recovery/trigger', { key, idempotencyKey: idem() });
        expect(trigger.body).toMatchObject({ sagasSignalled: expect.any(Array) });
        expect(trigger.status).toBe(200);
        expect(trigger.body.sagasSignalled).toContain(workflowId);
        expect(trigger.body.prepared).toEqual([]);
        await eventually(async () => (await api.call('GET', `status/${workflowId}`, { key })).body.outcome !== null);
        const status = await api.call('GET', `status/${workflowId}`, { key });
        expect(status.body).toMatchObject({
          saga: { status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] },
          outcome: { status: 'FAILED', error: { type: 'ComplianceRejected' } },
        });
      },
      { extraActivities: { rejectDepositRecord: flaky } },
    );
    expect(calls).toBe(2);
    const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toEqual([{ status: 'REJECTED' }]);
  });

  test('locks shows a row lock held by a running transaction, named by its operation', async () => {
    const account = await openUserAccount(ctx.pool);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const tx = withTransaction(ctx.pool, 'apiTestHoldsRow', async (c) => {
      await c.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [account]);
      locked();
      await held;
    });
    await isLocked;
    try {
      const locks = await api.call('GET', 'locks', { key });
      expect(locks.status).toBe(200);
      expect(locks.body.databaseLocks).toEqual(
        expect.arrayContaining([expect.objectContaining({ operation: 'apiTestHoldsRow', relation: 'accounts' })]),
      );
    } finally {
      release();
      await tx;
    }
  });

  test('the OpenAPI document validates and the docs page and Prometheus text are served', async () => {
    const doc = await api.call('GET', '/openapi.json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/transactions/execute-workflow',
        '/api/v1/transactions/execute',
        '/api/v1/transactions/status/{id}',
        '/api/v1/transactions/orders/{orderId}/cancel',
        '/api/v1/transactions/withdrawals/{withdrawalId}/cancel',
        '/api/v1/transactions/campaigns/{campaignId}/cancel',
        '/api/v1/transactions/campaigns/{campaignId}/rewards',
        '/api/v1/transactions/recovery/trigger',
      ]),
    );
    const validation = await validateOpenApi(structuredClone(doc.body));
    expect(validation).toMatchObject({ valid: true });
    const page = await api.call('GET', '/docs/');
    expect(page.status).toBe(200);
    expect(String(page.body)).toContain('swagger');
    await api.call('GET', 'health', { key });
    const prom = await api.call('GET', '/metrics');
    expect(String(prom.body)).toMatch(
      /txmgr_api_requests_total\{method="GET",route="\/api\/v1\/transactions\/health",status="(200|503)"\} \d/,
    );
    expect(String(prom.body)).toContain('txmgr_api_request_duration_seconds_bucket');
  });
});
