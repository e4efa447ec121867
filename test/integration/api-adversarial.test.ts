import { randomUUID } from 'node:crypto';
import { revokeApiKeyById } from '../../src/client/api-keys';
import { count, openUserAccount } from '../helpers/fixtures';
import { eventually, useTestContext } from '../helpers/context';
import { PREFIX, startTestApi, type ApiUnderTest } from './api-fixtures';
import { availableOf, fundedSide, sideOps, useSharedWorker } from './tx-fixtures';
import { TOTP_KEY } from './withdrawal-fixtures';

const ctx = useTestContext();
const shared = useSharedWorker(ctx);
const idem = () => randomUUID();

/** The one error shape, with nothing about internals in it (stack, SQL, SDK classes, the URL sent). */
function expectError(r: { status: number; body: unknown }, status: number, type: string, field?: string | null) {
  expect({ status: r.status, body: r.body }).toEqual({
    status,
    body: { error: { type, message: expect.any(String), field: field === undefined ? expect.anything() : field } },
  });
  const message = (r.body as { error: { message: string } }).error.message;
  expect(message).not.toMatch(/\n\s+at |SELECT|INSERT|node_modules|Error\b|FST_|%ED|aaaaaaaaaa/);
}

/** Rows any accepted request would have written. */
const written = async () => ({
  transfers: await count(ctx.pool, 'SELECT 1 FROM transfers'),
  holds: await count(ctx.pool, 'SELECT 1 FROM holds'),
  deposits: await count(ctx.pool, 'SELECT 1 FROM deposits'),
  transactions: await count(ctx.pool, 'SELECT 1 FROM tx_transactions'),
  idempotency: await count(ctx.pool, 'SELECT 1 FROM api_idempotency'),
});

describe('the HTTP API under hostile requests', () => {
  /** On a task queue no worker serves: what it starts stays unapplied. */
  let api: ApiUnderTest;
  /** On the shared worker's task queue. */
  let live: ApiUnderTest;
  let admin: string;
  let account: string;
  beforeAll(async () => {
    api = await startTestApi(ctx, ctx.taskQueue(), { rateLimitPerMinute: 100_000, maxWaitSeconds: 1 }, { totpKey: TOTP_KEY });
    live = await startTestApi(ctx, shared.taskQueue, { rateLimitPerMinute: 100_000 });
    admin = await api.key(['admin']);
    account = await openUserAccount(ctx.pool);
  });
  afterAll(async () => {
    await api?.close();
    await live?.close();
  });

  const deposit = (extra: Record<string, unknown> = {}) => ({
    workflow_type: 'fiat_deposit',
    parameters: {
      accountId: account,
      asset: 'USD',
      amount: '10.00',
      bankReference: `ADV-${randomUUID().slice(0, 8)}`,
      senderName: 'Ann',
      ...extra,
    },
  });
  const post = (path: string, o: Parameters<ApiUnderTest['call']>[2]) =>
    api.call('POST', path, { key: admin, idempotencyKey: idem(), ...o });
  /** A request with raw bytes and headers as given (fetch adds no content-type to bytes). */
  async function send(method: string, path: string, headers: Record<string, string>, body?: Uint8Array) {
    const res = await fetch(`${api.url}${PREFIX}/${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as unknown, headers: res.headers };
  }

  test('a URL the router cannot read answers in the error shape, without echoing the URL', async () => {
    for (const bad of ['status/%ED%A0%80', 'status/%E0%A4%A', `deposits/%FF/approve`]) {
      expectError(await send(bad.startsWith('status') ? 'GET' : 'POST', bad, {}), 400, 'MalformedRequest', 'path');
    }
    expectError(await send('GET', `status/${'a'.repeat(400)}`, {}), 414, 'UriTooLong', 'path');
  });

  test('a body must be UTF-8 JSON: another charset is 415, bytes that are not UTF-8 are 400, and nothing is started', async () => {
    const before = await written();
    const bytes = (s: string) => new TextEncoder().encode(s);
    for (const charset of ['latin1', 'utf-16', 'iso-8859-1']) {
      const r = await send(
        'POST',
        'execute-workflow',
        { 'idempotency-key': idem(), 'content-type': `application/json; charset=${charset}` },
        bytes(JSON.stringify(deposit())),
      );
      expectError(r, 415, 'UnsupportedMediaType', 'content-type');
    }
    const utf8 = await send(
      'POST',
      'execute-workflow',
      { 'idempotency-key': idem(), 'content-type': 'application/json; charset=UTF-8' },
      bytes(JSON.stringify(deposit())),
    );
    expect(utf8.status).toBe(202);
    // "Ann\xff": read as UTF-8 it would become "Ann\ufffd" and be accepted as a different name.
    const text = bytes(JSON.stringify(deposit({ senderName: 'Ann#' })));
    text[text.indexOf(0x23)] = 0xff;
    const invalid = await send(
      'POST',
      'execute-workflow',
      { 'idempotency-key': idem(), 'content-type': 'application/json' },
      text,
    );
    expectError(invalid, 400, 'MalformedJson', null);
    const after = await written();
    expect({ ...after, deposits: before.deposits, idempotency: before.idempotency }).toEqual(before);
    await ctx.temporal.workflow.getHandle((utf8.body as { workflowId: string }).workflowId).terminate('test cleanup');
  });

  test('NUL characters and lone surrogates anywhere in a body are 422 naming the field, before anything starts', async () => {
    const before = await written();
    const lone = await post('execute-workflow', {
      raw: JSON.stringify(deposit({ senderName: 'ZZZ' })).replace('ZZZ', 'Ann\\ud800'),
    });
    expectError(lone, 422, 'ValidationError', 'parameters.senderName');
    const loneLow = await post('execute-workflow', {
      raw: JSON.stringify({
        workflow_type: 'campaign_creation',
        parameters: { ownerAccountId: account, name: 'ZZZ', budget: '10' },
      }).replace('ZZZ', '\\udc00'),
    });
    expectError(loneLow, 422, 'ValidationError', 'parameters.name');
    const nulReason = await post(`withdrawals/${randomUUID()}/cancel`, { body: { reason: 'changed\u0000my mind' } });
    expectError(nulReason, 422, 'ValidationError', 'reason');
    const nulKey = await post('execute-workflow', { raw: '{"workflow_type":"fiat_deposit","parameters":{"a\\u0000":1}}' });
    expectError(nulKey, 422, 'ValidationError', 'parameters.(key)');
    // A surrogate pair (an emoji) is valid Unicode and reaches the schema as it is.
    const emoji = await post('execute-workflow', { body: deposit({ senderName: 'Ann 😀' }) });
    expect(emoji.status).toBe(202);
    await ctx.temporal.workflow.getHandle(emoji.body.workflowId).terminate('test cleanup');
    expect({ ...(await written()), deposits: before.deposits, idempotency: before.idempotency }).toEqual(before);
  });

  test('a body nested deeper than any request is refused as such, not as invalid JSON', async () => {
    for (const depth of [40, 5_000, 200_000]) {
      const r = await post('execute-workflow', {
        raw: `{"workflow_type":"fiat_deposit","parameters":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      });
      expectError(r, 422, 'ValidationError', null);
      expect(r.body.error.message).toContain('nests deeper than');
    }
    // Brackets inside strings are text, not nesting.
    const inString = await post('execute-workflow', { body: deposit({ senderName: '['.repeat(100) }) });
    expect(inString.status).toBe(202);
    await ctx.temporal.workflow.getHandle(inString.body.workflowId).terminate('test cleanup');
  });

  test('bad input of every kind is a JSON error that writes nothing, and the server keeps serving', async () => {
    const before = await written();
    const auditBefore = await count(ctx.pool, 'SELECT 1 FROM api_audit');
    const cases: Array<[string, Promise<{ status: number; body: unknown }>, number, string, string | null | undefined]> = [
      ['malformed', post('execute-workflow', { raw: '{"workflow_type":' }), 400, 'MalformedJson', null],
      [
        'text/plain',
        post('execute-workflow', { raw: 'x=1', contentType: 'text/plain' }),
        415,
        'UnsupportedMediaType',
        'content-type',
      ],
      [
        'no content type',
        send('POST', 'execute-workflow', { 'idempotency-key': idem() }, new TextEncoder().encode(JSON.stringify(deposit()))),
        415,
        'UnsupportedMediaType',
        'content-type',
      ],
      [
        '2 MB',
        post('execute-workflow', { raw: JSON.stringify({ ...deposit(), pad: 'x'.repeat(2 << 20) }) }),
        413,
        'PayloadTooLarge',
        null,
      ],
      ['unknown top', post('execute-workflow', { body: { ...deposit(), extra: 1 } }), 422, 'ValidationError', 'extra'],
      ['unknown param', post('execute-workflow', { body: deposit({ bonus: '1' }) }), 422, 'ValidationError', 'parameters.bonus'],
      ['unknown query', post('execute-workflow?debug=1', { body: deposit() }), 422, 'ValidationError', 'debug'],
      [
        '__proto__',
        post('execute-workflow', { raw: '{"parameters":{"\\u005f_proto__":{"admin":true}}}' }),
        422,
        'ValidationError',
        '__proto__',
      ],
      [
        'constructor',
        post('execute', { raw: '{"operations":[{"constructor":{"prototype":{"x":1}}}]}' }),
        422,
        'ValidationError',
        'constructor',
      ],
      [
        'prototype',
        post('execute-workflow', { body: { ...deposit(), prototype: { admin: true } } }),
        422,
        'ValidationError',
        'prototype',
      ],
      ['query __proto__', post('execute-workflow?__proto__=1', { body: deposit() }), 422, 'ValidationError', '__proto__'],
      ['exponent', post('execute-workflow', { body: deposit({ amount: '1e5' }) }), 422, 'ValidationError', 'amount'],
      ['huge', post('execute-workflow', { body: deposit({ amount: '9'.repeat(60) }) }), 422, 'ValidationError', 'amount'],
      ['negative', post('execute-workflow', { body: deposit({ amount: '-5' }) }), 422, 'ValidationError', 'amount'],
      ['sql id', api.call('GET', `status/${encodeURIComponent("x' OR '1'='1")}`, { key: admin }), 422, 'ValidationError', 'id'],
      ['traversal', api.call('GET', 'status/..%2f..%2fetc%2fpasswd', { key: admin }), 422, 'ValidationError', 'id'],
      [
        'sql order',
        post(`orders/${encodeURIComponent("1'; DROP TABLE orders;--")}/cancel`, {}),
        422,
        'ValidationError',
        'orderId',
      ],
      ['traversal ref', post('deposits/..%2f..%2fetc/approve', { body: { reviewer: 'r' } }), 422, 'ValidationError', 'reference'],
      [
        'long string',
        post('execute-workflow', { body: deposit({ senderName: 'x'.repeat(100_000) }) }),
        422,
        'ValidationError',
        'senderName',
      ],
      ['unknown id', api.call('GET', 'status/deposit-never-started', { key: admin }), 404, 'NotFound', 'id'],
      [
        'wait 301',
        post('execute-workflow?wait=true&waitSeconds=301', { body: deposit() }),
        422,
        'ValidationError',
        'waitSeconds',
      ],
      ['wait 0', post('execute-workflow?wait=true&waitSeconds=0', { body: deposit() }), 422, 'ValidationError', 'waitSeconds'],
      [
        'wait hex',
        post('execute-workflow?wait=true&waitSeconds=0x10', { body: deposit() }),
        422,
        'ValidationError',
        'waitSeconds',
      ],
      [
        'wait exponent',
        post('execute-workflow?wait=true&waitSeconds=1e2', { body: deposit() }),
        422,
        'ValidationError',
        'waitSeconds',
      ],
    ];
    // JSON numbers where decimal strings are required, in every workflow type and in an operation list.
    const numbers: Array<[string, unknown, string]> = [
      ['execute-workflow', deposit({ amount: 10 }), 'parameters.amount'],
      [
        'execute-workflow',
        {
          workflow_type: 'trade_execution',
          parameters: { owner: 'o', market: 'BTC-USD', side: 'buy', quantity: '1', price: 5e4 },
        },
        'parameters.price',
      ],
      [
        'execute-workflow',
        { workflow_type: 'trade_execution', parameters: { owner: 'o', market: 'BTC-USD', side: 'buy', quantity: 1, price: '1' } },
        'parameters.quantity',
      ],
      [
        'execute-workflow',
        {
          workflow_type: 'crypto_withdrawal',
          parameters: { accountId: account, asset: 'BTC', address: 'bc1q', amount: 0.5, otp: '123456' },
        },
        'parameters.amount',
      ],
      [
        'execute-workflow',
        { workflow_type: 'campaign_creation', parameters: { ownerAccountId: account, name: 'c', budget: 100 } },
        'parameters.budget',
      ],
      [
        'execute-workflow',
        {
          workflow_type: 'campaign_creation',
          parameters: { ownerAccountId: account, name: 'c', budget: '100', rewardPerUser: 1 },
        },
        'parameters.rewardPerUser',
      ],
      [`campaigns/${randomUUID()}/rewards`, { rewards: [{ accountId: account, amount: 5 }] }, 'rewards.0.amount'],
      [
        'execute',
        {
          id: `adv-${randomUUID()}`,
          operations: [
            {
              type: 'ledger.transfer',
              resource: 'ledger',
              params: { debitAccountId: account, creditAccountId: randomUUID(), asset: 'USD', amount: 100 },
            },
          ],
        },
        'operations.0.params.amount',
      ],
    ];
    for (const [path, body, field] of numbers)
      cases.push([`number ${field}`, post(path, { body }), 422, 'ValidationError', field]);
    for (const [name, pending, status, type, field] of cases) {
      const r = await pending;
      try {
        expectError(r, status, type, field);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
    expect(await written()).toEqual(before);
    // Every refused POST is audited (by key, route and error type); GETs are not.
    const posts = cases.filter(([name]) => !['sql id', 'traversal', 'unknown id'].includes(name)).length;
    expect(await count(ctx.pool, 'SELECT 1 FROM api_audit')).toBe(auditBefore + posts);
    expect(Object.prototype).not.toHaveProperty('admin');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect((await api.call('GET', 'metrics', { key: admin })).status).toBe(200);
  });

  test('keys: missing, wrong, revoked are 401; a key of one scope on every route of another is 403', async () => {
    expectError(await api.call('GET', 'metrics'), 401, 'Unauthorized', 'authorization');
    expectError(
      await api.call('GET', 'metrics', { key: `txk_${'0'.repeat(32)}_${'A'.repeat(43)}` }),
      401,
      'Unauthorized',
      'authorization',
    );
    expectError(await api.call('GET', 'metrics', { key: "' OR 1=1 --" }), 401, 'Unauthorized', 'authorization');
    const revoked = await api.key(['admin'], 'to-revoke');
    const { rows } = await ctx.pool.query<{ id: string }>(`SELECT id FROM api_keys WHERE name = 'to-revoke'`);
    await revokeApiKeyById(ctx.pool, rows[0]!.id);
    expectError(await api.call('GET', 'metrics', { key: revoked }), 401, 'Unauthorized', 'authorization');

    const id = randomUUID();
    const routes: Array<['GET' | 'POST', string, 'read' | 'execute' | 'operate']> = [
      ['GET', 'health', 'read'],
      ['GET', 'metrics', 'read'],
      ['GET', 'performance', 'read'],
      ['GET', 'alerts', 'read'],
      ['GET', 'locks', 'read'],
      ['GET', 'recovery/status', 'read'],
      ['GET', 'status/deposit-x', 'read'],
      ['POST', 'execute-workflow', 'execute'],
      ['POST', 'execute', 'execute'],
      ['POST', `orders/${id}/cancel`, 'execute'],
      ['POST', `withdrawals/${id}/cancel`, 'execute'],
      ['POST', `campaigns/${id}/cancel`, 'execute'],
      ['POST', `campaigns/${id}/rewards`, 'execute'],
      ['POST', 'deposits/REF-1/approve', 'operate'],
      ['POST', 'deposits/REF-1/reject', 'operate'],
      ['POST', 'recovery/trigger', 'operate'],
    ];
    const claimedBefore = await count(ctx.pool, 'SELECT 1 FROM api_idempotency');
    const keys = { read: await api.key(['read']), execute: await api.key(['execute']), operate: await api.key(['operate']) };
    for (const [method, path, scope] of routes) {
      for (const other of (['read', 'execute', 'operate'] as const).filter((s) => s !== scope)) {
        const r = await api.call(method, path, {
          key: keys[other],
          idempotencyKey: idem(),
          body: method === 'POST' ? deposit() : undefined,
        });
        try {
          expectError(r, 403, 'Forbidden', 'authorization');
        } catch (err) {
          throw new Error(`${other} key on ${method} ${path}: ${(err as Error).message}`);
        }
      }
    }
    expect(await count(ctx.pool, 'SELECT 1 FROM api_idempotency')).toBe(claimedBefore);
  });

  test('one Idempotency-Key: concurrent requests make one saga; other routes and other bodies are 409; other keys are separate', async () => {
    const k = idem();
    const body = deposit();
    const both = await Promise.all(
      Array.from({ length: 6 }, () => live.call('POST', 'execute-workflow', { key: admin, idempotencyKey: k, body })),
    );
    for (const r of both) expect([202, 409]).toContain(r.status);
    const ok = both.filter((r) => r.status === 202);
    expect(new Set(ok.map((r) => r.body.workflowId)).size).toBe(1);
    expect(ok.filter((r) => r.headers.get('idempotent-replayed') !== 'true')).toHaveLength(1);
    const workflowId = ok[0]!.body.workflowId as string;
    expect(await count(ctx.pool, `SELECT 1 FROM api_audit WHERE target = $1 AND outcome = 'ok'`, [workflowId])).toBe(1);
    // Replays are audited as such, naming what the first request acted on.
    const replayed = ok.length - 1;
    expect(await count(ctx.pool, `SELECT 1 FROM api_audit WHERE target = $1 AND outcome = 'replayed'`, [workflowId])).toBe(
      replayed,
    );

    const differentBody = await live.call('POST', 'execute-workflow', { key: admin, idempotencyKey: k, body: deposit() });
    expectError(differentBody, 409, 'IdempotencyConflict', 'Idempotency-Key');
    expect(differentBody.body.error.message).toContain('with a different body');
    const otherRoute = await live.call('POST', 'recovery/trigger', { key: admin, idempotencyKey: k });
    expectError(otherRoute, 409, 'IdempotencyConflict', 'Idempotency-Key');
    // Another API key's Idempotency-Key space is its own: it never sees the first key's answer, and the
    // deposit's own bank reference joins the one saga.
    const otherKey = await live.key(['execute']);
    const joined = await live.call('POST', 'execute-workflow', { key: otherKey, idempotencyKey: k, body });
    expect(joined.status).toBe(202);
    expect(joined.headers.get('idempotent-replayed')).toBeNull();
    expect(joined.body).toMatchObject({ workflowId, started: false });
    await eventually(async () => (await count(ctx.pool, 'SELECT 1 FROM deposits WHERE workflow_id = $1', [workflowId])) === 1);
  });

  test('50 concurrent POST /execute with one transaction id: one transaction, applied once', async () => {
    const s = await fundedSide(ctx.pool);
    const id = `adv-${randomUUID()}`;
    const body = { id, operations: sideOps(s, 'ledger', 0) };
    const all = await Promise.all(
      Array.from({ length: 50 }, () => live.call('POST', 'execute', { key: admin, idempotencyKey: idem(), body })),
    );
    expect(all.map((r) => r.status)).toEqual(all.map(() => 202));
    expect(all.filter((r) => r.body.started === true)).toHaveLength(1);
    expect(new Set(all.map((r) => r.body.workflowId))).toEqual(new Set([`tx-${id}`]));
    await ctx.temporal.workflow.getHandle(`tx-${id}`).result();
    expect(await availableOf(s)).toBe(850n);
    expect(await availableOf(s, s.other)).toBe(100n);
  });

  test('the rate limit is 429 with Retry-After; a wait is bounded by the server', async () => {
    const limited = await startTestApi(ctx, shared.taskQueue, { rateLimitPerMinute: 2 });
    try {
      const k = await limited.key(['read']);
      await limited.call('GET', 'metrics', { key: k });
      await limited.call('GET', 'metrics', { key: k });
      const refused = await limited.call('GET', 'metrics', { key: k });
      expectError(refused, 429, 'RateLimited', null);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
    // No worker answers this task queue: waitSeconds=300 is held to the server's bound (1 s) and answers 202.
    const r = await post('execute-workflow?wait=true&waitSeconds=300', { body: deposit() });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ outcome: null, waitedSeconds: 1 });
    const handle = ctx.temporal.workflow.getHandle(r.body.workflowId);
    expect((await handle.describe()).status.name).toBe('RUNNING');
    await handle.terminate('test cleanup');
  });

  test('every POST leaves an audit row, and no audit row holds a key or a one-time code', async () => {
    const auditBefore = await count(ctx.pool, 'SELECT 1 FROM api_audit');
    const otp = '918273';
    const withdrawal = await post('execute-workflow', {
      body: {
        workflow_type: 'crypto_withdrawal',
        parameters: { accountId: randomUUID(), asset: 'BTC', address: 'bc1qnotallowed', amount: '0.1', otp },
      },
    });
    if (withdrawal.status === 202) await ctx.temporal.workflow.getHandle(withdrawal.body.workflowId).terminate('test cleanup');
    await post('recovery/trigger', {});
    await post(`campaigns/${randomUUID()}/cancel`, { body: { reason: `otp ${otp}` } });
    expect(await count(ctx.pool, 'SELECT 1 FROM api_audit')).toBe(auditBefore + 3);
    const dump = JSON.stringify((await ctx.pool.query('SELECT * FROM api_audit')).rows);
    expect(dump).not.toContain(otp);
    expect(dump).not.toContain(admin.slice(-43));
    expect(dump).not.toContain('txk_');
  });
});
