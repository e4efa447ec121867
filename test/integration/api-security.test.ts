import { randomUUID } from 'node:crypto';
import { revokeApiKeyById } from '../../src/client/api-keys';
import { count, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { startTestApi, type ApiUnderTest } from './api-fixtures';

const ctx = useTestContext();
const idem = () => randomUUID();

function deposit(accountId: string, extra: Record<string, unknown> = {}) {
  return {
    workflow_type: 'fiat_deposit',
    parameters: {
      accountId,
      asset: 'USD',
      amount: '10.00',
      bankReference: `SEC-${randomUUID().slice(0, 8)}`,
      senderName: 'Ann',
      ...extra,
    },
  };
}

/** The one error shape: type, message and field, nothing else (no stack, no SQL). */
function expectError(body: unknown, type: string, field?: string | null) {
  expect(body).toEqual({ error: { type, message: expect.any(String), field: field === undefined ? expect.anything() : field } });
  const message = (body as { error: { message: string } }).error.message;
  expect(message).not.toMatch(/\n\s+at |SELECT|INSERT|node_modules/);
}

describe('HTTP API security and bad input', () => {
  let api: ApiUnderTest;
  let admin: string;
  let account: string;
  beforeAll(async () => {
    api = await startTestApi(ctx, ctx.taskQueue(), { rateLimitPerMinute: 1000 });
    admin = await api.key(['admin']);
    account = await openUserAccount(ctx.pool);
  });
  afterAll(async () => api?.close());

  test('missing, malformed, wrong and revoked keys are 401; a key without the scope is 403', async () => {
    expectError((await api.call('GET', 'health')).body, 'Unauthorized', 'authorization');
    expect((await api.call('GET', 'health', { key: 'not-a-key' })).status).toBe(401);
    const real = await api.key(['read']);
    const wrong = `${real.slice(0, -4)}AAAA`;
    const r = await api.call('GET', 'metrics', { key: wrong });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toContain('Bearer');
    expect((await api.call('GET', 'metrics', { key: real })).status).toBe(200);
    const forbidden = await api.call('POST', 'execute-workflow', { key: real, idempotencyKey: idem(), body: deposit(account) });
    expect(forbidden.status).toBe(403);
    expectError(forbidden.body, 'Forbidden', 'authorization');
    const { rows } = await ctx.pool.query<{ id: string }>(
      'SELECT id FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at DESC LIMIT 1',
    );
    await revokeApiKeyById(ctx.pool, rows[0]!.id);
    expect((await api.call('GET', 'metrics', { key: real })).status).toBe(401);
    // Keys are stored only as hashes; the audit row of the refused POST names the key id, never the key.
    const dump = JSON.stringify((await ctx.pool.query('SELECT * FROM api_keys, api_audit')).rows);
    expect(dump).not.toContain(real.slice(-43));
    expect(await count(ctx.pool, `SELECT 1 FROM api_audit WHERE outcome = 'Forbidden' AND status_code = 403`)).toBe(1);
  });

  test('bad input is a JSON error that writes nothing, and the server keeps serving', async () => {
    const before = await count(ctx.pool, 'SELECT 1 FROM transfers');
    const post = (o: Parameters<ApiUnderTest['call']>[2]) =>
      api.call('POST', 'execute-workflow', { key: admin, idempotencyKey: idem(), ...o });

    const malformed = await post({ raw: '{"workflow_type": "fiat_deposit",' });
    expect(malformed.status).toBe(400);
    expectError(malformed.body, 'MalformedJson', null);

    const wrongType = await post({ raw: 'workflow_type=fiat_deposit', contentType: 'text/plain' });
    expect(wrongType.status).toBe(415);
    expectError(wrongType.body, 'UnsupportedMediaType');

    const huge = await post({ raw: JSON.stringify({ ...deposit(account), pad: 'x'.repeat(2 * 1024 * 1024) }) });
    expect(huge.status).toBe(413);
    expectError(huge.body, 'PayloadTooLarge', null);

    const unknownField = await post({ body: deposit(account, { bonus: '5' }) });
    expect(unknownField.status).toBe(422);
    expectError(unknownField.body, 'ValidationError', 'parameters.bonus');

    const numberAmount = await post({ body: deposit(account, { amount: 10.5 }) });
    expect(numberAmount.status).toBe(422);
    expectError(numberAmount.body, 'ValidationError', 'parameters.amount');

    const proto = await post({ raw: `{"workflow_type":"fiat_deposit","parameters":{"__proto__":{"admin":true}}}` });
    expect(proto.status).toBe(422);
    expectError(proto.body, 'ValidationError', '__proto__');

    const noKey = await api.call('POST', 'execute-workflow', { key: admin, body: deposit(account) });
    expect(noKey.status).toBe(422);
    expectError(noKey.body, 'ValidationError', 'Idempotency-Key');

    const unknownType = await post({ body: { workflow_type: 'rm -rf', parameters: {} } });
    expect(unknownType.status).toBe(422);

    const unknownAccount = await post({ body: deposit(randomUUID()) });
    expect(unknownAccount.status).toBe(422);
    expectError(unknownAccount.body, 'ValidationError', 'accountId');

    for (const id of ["1' OR '1'='1", '../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', 'deposit-x;DROP TABLE deposits']) {
      const r = await api.call('GET', `status/${encodeURIComponent(id)}`, { key: admin });
      expect(r.status).toBe(422);
      expectError(r.body, 'ValidationError', 'id');
    }
    const missing = await api.call('GET', 'status/deposit-never-started', { key: admin });
    expect(missing.status).toBe(404);
    expectError(missing.body, 'NotFound');
    expect((await api.call('GET', 'no-such-route', { key: admin })).status).toBe(404);
    expect((await api.call('GET', 'metrics?since=yesterday', { key: admin })).status).toBe(422);

    expect(await count(ctx.pool, 'SELECT 1 FROM deposits')).toBe(0);
    expect(await count(ctx.pool, 'SELECT 1 FROM transfers')).toBe(before);
    expect(await count(ctx.pool, 'SELECT 1 FROM api_idempotency')).toBe(0);
    expect((await api.call('GET', 'metrics', { key: admin })).status).toBe(200);
  });

  test('one idempotency key with a different body is 409 naming the first request', async () => {
    const k = idem();
    // No worker: the first request starts the saga (202) and is kept; the saga itself waits.
    const first = await api.call('POST', 'execute-workflow', { key: admin, idempotencyKey: k, body: deposit(account) });
    expect(first.status).toBe(202);
    const second = await api.call('POST', 'execute-workflow', { key: admin, idempotencyKey: k, body: deposit(account) });
    expect(second.status).toBe(409);
    expectError(second.body, 'IdempotencyConflict', 'Idempotency-Key');
    expect(second.body.error.message).toContain('POST /api/v1/transactions/execute-workflow with a different body');
    const elsewhere = await api.call('POST', 'recovery/trigger', { key: admin, idempotencyKey: k });
    expect(elsewhere.status).toBe(409);
    await ctx.temporal.workflow.getHandle(first.body.workflowId).terminate('test cleanup');
  });

  test('CORS is off unless origins are configured', async () => {
    const preflight = (base: string) =>
      fetch(`${base}/api/v1/transactions/metrics`, {
        method: 'OPTIONS',
        headers: { origin: 'https://ops.example', 'access-control-request-method': 'GET' },
      });
    expect((await preflight(api.url)).headers.get('access-control-allow-origin')).toBeNull();
    const open = await startTestApi(ctx, ctx.taskQueue(), { corsOrigins: ['https://ops.example'] });
    try {
      expect((await preflight(open.url)).headers.get('access-control-allow-origin')).toBe('https://ops.example');
    } finally {
      await open.close();
    }
  });

  test('more requests than the per-key limit are 429, for that key only', async () => {
    const limited = await startTestApi(ctx, ctx.taskQueue(), { rateLimitPerMinute: 3 });
    try {
      const a = await limited.key(['read']);
      const b = await limited.key(['read']);
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await limited.call('GET', 'metrics', { key: a })).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      const refused = await limited.call('GET', 'metrics', { key: a });
      expectError(refused.body, 'RateLimited', null);
      expect((await limited.call('GET', 'metrics', { key: b })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
