import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import {
  badHumanAmount,
  blank,
  INJECTION,
  mutate,
  notString,
  notUuid,
  numRuns,
  tooLong,
  unknownKey,
  withNul,
  type Mutation,
} from '../helpers/properties';
import { startTestApi, type ApiUnderTest } from '../integration/api-fixtures';

/**
 * The HTTP API's request parsing under generated bad requests: every refusal is a 4xx (or
 * 501 for a type this build lacks) with `{ error: { type, message, field } }` — a field for
 * every validation error, never a stack trace — and nothing is written or started.
 */
const ctx = useTestContext();
const TABLES = ['accounts', 'deposits', 'transfers', 'holds', 'orders', 'withdrawals', 'campaigns', 'tx_operations', 'outbox'];
async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of TABLES) counts[t] = Number((await ctx.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n);
  return counts;
}

let api: ApiUnderTest;
let key: string;
let account: string;
beforeAll(async () => {
  // Thousands of requests a minute in the full run: above any per-key rate limit a deployment would set.
  api = await startTestApi(ctx, ctx.taskQueue(), { rateLimitPerMinute: 1_000_000 });
  key = await api.key(['read', 'execute', 'operate']);
  account = await openUserAccount(ctx.pool);
});
afterAll(async () => {
  await api?.close();
});

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the error body is checked field by field
  body: any;
}

function expectRefusal(r: Answer, field?: string): void {
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(r.status).not.toBe(500);
  const e = r.body?.error as { type?: unknown; message?: unknown; field?: unknown } | undefined;
  expect({ keys: Object.keys(e ?? {}).sort(), type: typeof e?.type, message: typeof e?.message }).toEqual({
    keys: ['field', 'message', 'type'],
    type: 'string',
    message: 'string',
  });
  // A validation error always names its field; others may concern the whole request.
  expect(
    r.status === 422 ? typeof e?.field === 'string' && e.field !== '' : e?.field === null || typeof e?.field === 'string',
  ).toBe(true);
  // The request's own text may be quoted back; a stack or the database's words never are.
  expect(r.body.error.message).not.toMatch(/\n\s+at |node_modules|syntax error at or near|relation "|SQLSTATE|duplicate key/);
  if (field !== undefined) expect({ status: r.status, field: r.body.error.field }).toEqual({ status: 422, field });
}

const deposit = () => ({
  accountId: account,
  asset: 'USD',
  amount: '12.34',
  bankReference: `HTTP-${randomUUID().slice(0, 12)}`,
  senderName: 'Ann',
});

test('POST /execute-workflow: a bad fiat deposit is refused naming parameters.<field>; nothing is started', async () => {
  const before = await rowCounts();
  const bad: fc.Arbitrary<Mutation> = fc.oneof(
    mutate('accountId', notUuid),
    mutate('asset', fc.oneof(notString, fc.constantFrom('us d', ''))),
    mutate('amount', badHumanAmount),
    mutate('bankReference', fc.oneof(notString, blank, tooLong(64), INJECTION, fc.constantFrom('-x', 'a b', 'ref;1'))),
    mutate('senderName', fc.oneof(notString, blank, tooLong(200), withNul)),
    unknownKey,
  );
  await fc.assert(
    fc.asyncProperty(bad, async (m) => {
      // JSON drops an undefined member; a null stays and is refused like any other wrong value.
      const parameters = { ...deposit(), [m.field]: m.value === undefined ? null : m.value };
      const r = await api.call('POST', 'execute-workflow', {
        key,
        idempotencyKey: randomUUID(),
        body: { workflow_type: 'fiat_deposit', parameters },
      });
      // JSON has no undefined and no NaN: a dropped key is a missing field, which is refused too.
      expectRefusal(r);
      // The HTTP schema names it parameters.<field>; the client's deeper checks name <field>.
      expect({ status: r.status, field: String(r.body.error.field).replace(/^parameters\./, '') }).toEqual({
        status: 422,
        field: m.expectField,
      });
      const started = await ctx.temporal.workflow
        .getHandle(`deposit-${String(parameters.bankReference).trim()}`)
        .describe()
        .then(() => true)
        .catch(() => false);
      expect(started).toBe(false);
    }),
    { numRuns: numRuns(120) },
  );
  expect(await rowCounts()).toEqual(before);
});

test('any request envelope: unknown types, extra keys, bodies that are not objects, bad query and headers', async () => {
  const before = await rowCounts();
  const request = fc.oneof(
    fc.record({
      path: fc.constant('execute-workflow'),
      body: fc.oneof(
        fc.anything(),
        fc.record({ workflow_type: fc.oneof(notString, fc.string(), INJECTION), parameters: fc.anything() }),
        fc.record({
          workflow_type: fc.constantFrom('trade_execution', 'crypto_withdrawal', 'campaign_creation', 'fiat_deposit'),
          parameters: fc.oneof(fc.anything(), fc.dictionary(fc.string(), fc.anything())),
        }),
        unknownKey.map((m) => ({ workflow_type: 'fiat_deposit', parameters: deposit(), [m.field]: m.value })),
      ),
      query: fc.constantFrom('', '?wait=forever', '?wait=-1', "?wait=1'; DROP TABLE deposits; --"),
    }),
    fc.record({
      path: fc.constant('execute'),
      body: fc.oneof(fc.anything(), fc.record({ id: fc.anything(), mode: fc.anything(), operations: fc.anything() })),
      query: fc.constant(''),
    }),
  );
  const raw = fc.oneof(fc.constant(undefined), fc.constantFrom('{', 'null', '[1,', 'DROP TABLE deposits', '\u0000'));
  const idempotency = fc.oneof(
    fc.uuid(),
    fc.constantFrom(' '),
    tooLong(200).map((s) => s.replace(/[^\x21-\x7e]/g, 'x')),
  );
  await fc.assert(
    fc.asyncProperty(request, raw, idempotency, async (req, rawBody, idem) => {
      const r = await api.call('POST', `${req.path}${req.query}`, {
        key,
        idempotencyKey: idem,
        ...(rawBody === undefined ? { body: req.body ?? null } : { raw: rawBody }),
      });
      expectRefusal(r);
    }),
    { numRuns: numRuns(120) },
  );
  expect(await rowCounts()).toEqual(before);
});
