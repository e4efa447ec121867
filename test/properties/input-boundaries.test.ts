import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createActivities } from '../../src/activities';
import { listDepositViews } from '../../src/client/deposits';
import { prepareConfigTransaction } from '../../src/client/config';
import { readBalance } from '../../src/client/balances';
import { DomainError } from '../../src/domain/errors';
import { CONFIG_KINDS } from '../../src/domain/config';
import { useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import { numRuns } from '../helpers/properties';

/**
 * Every client and workflow input boundary under generated bad input: each rejection is a
 * ValidationError whose `field` names what was wrong, and nothing is written or started.
 */
const ctx = useTestContext();

/** Tables a rejected input must leave untouched (transaction_metrics records every attempt, by design). */
const TABLES = ['accounts', 'deposits', 'transfers', 'holds', 'outbox', 'config_transactions', 'config_changes'];

async function rowCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of TABLES) counts[t] = Number((await ctx.pool.query(`SELECT COUNT(*) AS n FROM ${t}`)).rows[0].n);
  return counts;
}

async function domainRejection(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedlyAccepted: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const INJECTION = fc.constantFrom(
  "x'; DROP TABLE deposits; --",
  "' OR '1'='1",
  'Robert"); DELETE FROM accounts; --',
  '$1; TRUNCATE transfers',
);
/** Anything that is not a string. */
const notString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object());
const notUuid = fc.oneof(
  notString,
  fc.string().filter((s) => !UUID.test(s.trim().toLowerCase())),
  INJECTION,
);
const tooLong = (n: number) => fc.string({ minLength: n + 1, maxLength: n + 40 }).filter((s) => s.trim().length > n);
const blank = fc.constantFrom('', ' ', '\t', '   \n');
const withNul = fc.string({ maxLength: 20 }).map((s) => `a${s}\u0000b`);
/** A key no boundary knows, with any value. */
const extraKey = fc.tuple(fc.constantFrom('amountMinor', 'admin', '__proto__x', 'sql', 'debitAccountId'), fc.anything());

type Mutation = { field: string; value: unknown; expectField: string };
const mutate = (field: string, value: fc.Arbitrary<unknown>, expectField = field): fc.Arbitrary<Mutation> =>
  value.map((v) => ({ field, value: v, expectField }));

describe('input boundaries under generated bad input', () => {
  let usd: string;
  let eur: string;
  beforeAll(async () => {
    usd = await openUserAccount(ctx.pool, 'USD');
    eur = await openUserAccount(ctx.pool, 'EUR');
  });

  test('deposit requests: the client refuses each bad field by name and starts no saga', async () => {
    const client = ctx.client(ctx.taskQueue());
    const bad = fc.oneof(
      mutate('accountId', notUuid),
      mutate('accountId', fc.constant(randomUUID())), // no such account
      mutate('accountId', fc.constant('EUR'), 'accountId').map((m) => ({ ...m, value: eur, expectField: 'asset' })),
      mutate(
        'asset',
        fc.oneof(
          notString,
          fc.string().filter((s) => !/^[A-Z][A-Z0-9]{1,11}$/.test(s.trim().toUpperCase())),
        ),
      ),
      mutate('asset', fc.constantFrom('ZZZ', 'xbt', 'EUR')),
      mutate(
        'amount',
        fc.oneof(
          notString,
          fc.constantFrom('0', '0.00', '-1', '1e3', '1.001', 'NaN', '1,50', '', ' ', '10.5.0', `1${'0'.repeat(40)}`),
          INJECTION,
          fc.bigInt({ min: 1n, max: 10n ** 12n }).map((n) => `-${n}`),
          fc.bigInt({ min: 1n, max: 10n ** 9n }).map((n) => `0.${n.toString().padStart(3, '0')}1`),
        ),
      ),
      mutate('bankReference', fc.oneof(notString, blank, tooLong(64), INJECTION, fc.constantFrom('-x', 'a b', 'ref;1'))),
      mutate('senderName', fc.oneof(notString, blank, tooLong(200), withNul)),
      mutate('reviewTimeoutSeconds', fc.oneof(fc.constantFrom(0, -1, 1.5, 31 * 24 * 3600, Number.NaN), fc.string())),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    const before = await rowCounts();
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const reference = `PROP-${randomUUID()}`;
        const request = {
          accountId: usd,
          asset: 'USD',
          amount: '12.34',
          bankReference: reference,
          senderName: 'Ann',
          [m.field]: m.value,
        };
        const err = await domainRejection(client.startDeposit(request));
        expect(err.type).toBe('ValidationError');
        expect(err.details?.field).toBe(m.expectField);
        expect(err.message).toContain(m.expectField);
        if (m.field !== 'bankReference') {
          const started = await ctx.temporal.workflow
            .getHandle(`deposit-${reference}`)
            .describe()
            .catch((e: unknown) => e);
          expect(started).toBeInstanceOf(WorkflowNotFoundError);
        }
      }),
      { numRuns: numRuns(120) },
    );
    expect(await rowCounts()).toEqual(before);
  });

  test('open-account, review-decision, balance and deposit-list requests: refused by field, nothing written', async () => {
    const client = ctx.client(ctx.taskQueue());
    const before = await rowCounts();
    const account = fc.oneof(
      mutate('owner', fc.oneof(notString, blank, tooLong(200))),
      mutate('asset', fc.oneof(notString, fc.constantFrom('', 'usd$', 'ZZZ', "US'D"))),
      mutate('accountId', notUuid),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    await fc.assert(
      fc.asyncProperty(account, async (m) => {
        const err = await domainRejection(client.openAccount({ owner: 'Ann', asset: 'USD', [m.field]: m.value }));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: m.expectField } });
      }),
      { numRuns: numRuns(60) },
    );
    const decision = fc.oneof(
      mutate('reviewer', fc.oneof(notString, blank, tooLong(200), withNul)),
      mutate(
        'reason',
        fc.oneof(
          notString.filter((v) => v !== undefined),
          tooLong(1000),
          withNul,
        ),
      ),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    await fc.assert(
      fc.asyncProperty(decision, fc.boolean(), async (m, approve) => {
        const d = { reviewer: 'olga', [m.field]: m.value } as never;
        const err = await domainRejection(approve ? client.approveDeposit('PROP-X', d) : client.rejectDeposit('PROP-X', d));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: m.expectField } });
      }),
      { numRuns: numRuns(60) },
    );
    await fc.assert(
      fc.asyncProperty(notUuid, async (id) => {
        const err = await domainRejection(readBalance(ctx.pool, id as string));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: 'accountId' } });
        const viaClient = await domainRejection(client.getBalance(id as string));
        expect(viaClient).toMatchObject({ type: 'ValidationError', details: { field: 'input' } });
      }),
      { numRuns: numRuns(30) },
    );
    const list = fc.oneof(
      mutate('status', fc.oneof(notString, fc.constantFrom('credited ', 'LOST', "CREDITED' OR 1=1"))),
      mutate('limit', fc.oneof(fc.constantFrom(0, -5, 1.5, 1001), fc.string())),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    await fc.assert(
      fc.asyncProperty(list, async (m) => {
        const err = await domainRejection(listDepositViews(ctx.pool, { [m.field]: m.value }));
        expect(err).toMatchObject({ type: 'ValidationError', details: { field: m.expectField } });
      }),
      { numRuns: numRuns(30) },
    );
    expect(await rowCounts()).toEqual(before);
  });

  test('config transactions: a bad envelope or payload is refused naming the field, before anything is submitted', () => {
    const bad = fc.oneof(
      mutate(
        'id',
        fc.oneof(
          notString.filter((v) => v !== null),
          fc.constant(''),
          tooLong(128),
        ),
      ), // null: a new id is made
      mutate(
        'kind',
        fc.oneof(
          notString,
          fc.string().filter((k) => !(CONFIG_KINDS as string[]).includes(k)),
        ),
      ),
      mutate('payload', fc.oneof(fc.anything(), INJECTION), 'payload'),
      mutate('submittedAt', fc.oneof(notString, fc.constantFrom('yesterday', '2026-13-01T00:00:00Z'))),
      mutate('source', fc.oneof(notString, tooLong(200))),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    fc.assert(
      fc.property(bad, fc.constantFrom(...CONFIG_KINDS), (m, kind) => {
        let err: unknown;
        try {
          prepareConfigTransaction({ id: `cfg-${randomUUID()}`, kind, payload: {}, [m.field]: m.value });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(DomainError);
        expect((err as DomainError).type).toBe('ValidationError');
        const e = err as DomainError;
        if (m.field === m.expectField && !['id', 'kind', 'payload', 'submittedAt', 'source'].includes(m.field)) {
          // An unknown envelope key: the field is the envelope itself, the message names the key.
          expect(e.details?.field).toBe('input');
          expect(e.message).toContain(`"${m.field}"`);
        } else expect(String(e.details?.field)).toMatch(new RegExp(`^${m.expectField}`));
      }),
      { numRuns: numRuns(80) },
    );
  });

  test('validateDeposit (the workflow input boundary): a non-retryable ValidationError with the field; nothing written', async () => {
    const activities = createActivities({ pool: ctx.pool, logger: ctx.logger });
    const bad = fc.oneof(
      mutate('accountId', notUuid),
      mutate('accountId', fc.constant(randomUUID())),
      mutate('asset', fc.oneof(notString, fc.constantFrom('us d', 'ZZZ', 'E'))),
      mutate('amount', fc.oneof(notString, fc.constantFrom('0', '-5', '1.5', '1e9', ' 12', `1${'0'.repeat(38)}`), INJECTION)),
      mutate('bankReference', fc.oneof(notString, blank, tooLong(64), INJECTION)),
      mutate('senderName', fc.oneof(notString, blank, tooLong(200), withNul)),
      mutate('deadlineSeconds', fc.constantFrom(0, -1, 0.5, 31 * 24 * 3600)),
      extraKey.map(([key, value]) => ({ field: key, value, expectField: key })),
    );
    const before = await rowCounts();
    await fc.assert(
      fc.asyncProperty(bad, async (m) => {
        const input = { accountId: usd, asset: 'USD', amount: '1234', bankReference: `V-${randomUUID()}`, senderName: 'Ann' };
        const err = await activities.validateDeposit({ ...input, [m.field]: m.value }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ApplicationFailure);
        const failure = err as ApplicationFailure;
        expect(failure).toMatchObject({ type: 'ValidationError', nonRetryable: true });
        expect(failure.details?.[0]).toMatchObject({ field: m.expectField });
      }),
      { numRuns: numRuns(80) },
    );
    expect(await rowCounts()).toEqual(before);
  });
});
