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
import { checkInvariants } from '../../src/db/invariants';
import { useTestContext } from '../helpers/context';
import { balances, houseAccount, openUserAccount } from '../helpers/fixtures';
import { blank, extraKey, INJECTION, mutate, notString, notUuid, numRuns, tooLong, withNul } from '../helpers/properties';

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

/**
 * The ledger's arithmetic under generated operation sequences — funding, transfers, holds,
 * partial captures, releases and replays of earlier requests — against a model kept in
 * bigints: every balance column matches to the minor unit, nothing moves twice, and
 * checkInvariants stays clean.
 */

type Op =
  | { kind: 'fund'; to: number; amount: bigint }
  | { kind: 'transfer'; from: number; to: number; amount: bigint }
  | { kind: 'hold'; from: number; to: number; amount: bigint }
  | { kind: 'capture'; hold: number; amount: bigint }
  | { kind: 'release'; hold: number }
  | { kind: 'replay'; of: number };

const USERS = 3;
const user = fc.integer({ min: 0, max: USERS - 1 });
const amount = fc.oneof(fc.bigInt({ min: 1n, max: 500n }), fc.bigInt({ min: 1n, max: 10n ** 30n }));
const pair = fc.tuple(user, user).filter(([a, b]) => a !== b);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('fund' as const), to: user, amount }),
  pair.chain(([from, to]) =>
    fc.record({ kind: fc.constant('transfer' as const), from: fc.constant(from), to: fc.constant(to), amount }),
  ),
  pair.chain(([from, to]) =>
    fc.record({ kind: fc.constant('hold' as const), from: fc.constant(from), to: fc.constant(to), amount }),
  ),
  fc.record({ kind: fc.constant('capture' as const), hold: fc.nat(), amount }),
  fc.record({ kind: fc.constant('release' as const), hold: fc.nat() }),
  fc.record({ kind: fc.constant('replay' as const), of: fc.nat() }),
);

interface Columns {
  debitsPosted: bigint;
  creditsPosted: bigint;
  debitsPending: bigint;
  creditsPending: bigint;
}
const zero = (): Columns => ({ debitsPosted: 0n, creditsPosted: 0n, debitsPending: 0n, creditsPending: 0n });

describe('ledger arithmetic properties', () => {
  test('generated sequences of ledger operations never lose, invent or double a minor unit', async () => {
    const ledger = createActivities({ pool: ctx.pool, logger: ctx.logger });
    const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const ids = [bank, ...(await Promise.all(Array.from({ length: USERS }, () => openUserAccount(ctx.pool))))];
        const bankBefore = await balances(ctx.pool, bank);
        const model = ids.map(zero);
        const holds: Array<{ id: string; from: number; to: number; remaining: bigint; open: boolean }> = [];
        const accepted: Array<() => Promise<unknown>> = [];
        const available = (i: number) => model[i]!.creditsPosted - model[i]!.debitsPosted - model[i]!.debitsPending;
        const constrained = (i: number) => i > 0;

        /** Runs a request the model says is allowed (it must succeed) or refused (it must fail, non-retryably). */
        async function attempt(allowed: boolean, run: () => Promise<unknown>): Promise<boolean> {
          const outcome = await run().then(
            () => undefined,
            (e: unknown) => e,
          );
          if (allowed) expect(outcome).toBeUndefined();
          else {
            expect(outcome).toBeInstanceOf(ApplicationFailure);
            expect((outcome as ApplicationFailure).nonRetryable).toBe(true);
          }
          if (allowed) accepted.push(run);
          return allowed;
        }

        for (const o of ops) {
          const key = `prop-${randomUUID()}`;
          if (o.kind === 'fund' || o.kind === 'transfer') {
            const from = o.kind === 'fund' ? 0 : o.from;
            const to = o.kind === 'fund' ? o.to + 1 : o.to + 1;
            const debit = o.kind === 'fund' ? 0 : from + 1;
            const req = {
              idempotencyKey: key,
              debitAccountId: ids[debit]!,
              creditAccountId: ids[to]!,
              asset: 'USD',
              amount: o.amount.toString(),
            };
            if (await attempt(!constrained(debit) || available(debit) >= o.amount, () => ledger.transfer(req))) {
              model[debit]!.debitsPosted += o.amount;
              model[to]!.creditsPosted += o.amount;
            }
          } else if (o.kind === 'hold') {
            const [debit, credit] = [o.from + 1, o.to + 1];
            const req = {
              idempotencyKey: key,
              debitAccountId: ids[debit]!,
              creditAccountId: ids[credit]!,
              asset: 'USD',
              amount: o.amount.toString(),
            };
            let holdId = '';
            const run = async () => (holdId = (await ledger.placeHold(req)).holdId);
            if (await attempt(available(debit) >= o.amount, run)) {
              model[debit]!.debitsPending += o.amount;
              model[credit]!.creditsPending += o.amount;
              holds.push({ id: holdId, from: debit, to: credit, remaining: o.amount, open: true });
            }
          } else if (o.kind === 'capture') {
            const h = holds[o.hold % Math.max(holds.length, 1)];
            if (!h) continue;
            const req = { idempotencyKey: key, holdId: h.id, amount: o.amount.toString() };
            if (await attempt(h.open && o.amount <= h.remaining, () => ledger.captureHold(req))) {
              model[h.from]!.debitsPending -= o.amount;
              model[h.from]!.debitsPosted += o.amount;
              model[h.to]!.creditsPending -= o.amount;
              model[h.to]!.creditsPosted += o.amount;
              h.remaining -= o.amount;
              h.open = h.remaining > 0n;
            }
          } else if (o.kind === 'release') {
            const h = holds[o.hold % Math.max(holds.length, 1)];
            if (!h) continue;
            // Releasing a closed hold is a no-op, so always allowed.
            await attempt(true, () => ledger.releaseHold({ holdId: h.id }));
            if (h.open) {
              model[h.from]!.debitsPending -= h.remaining;
              model[h.to]!.creditsPending -= h.remaining;
              h.remaining = 0n;
              h.open = false;
            }
          } else {
            // The same request again (an activity retry): accepted, and nothing moves.
            const again = accepted[o.of % Math.max(accepted.length, 1)];
            if (again) await expect(again()).resolves.toBeDefined();
          }
        }
        // Leave no open hold behind (they belong to no saga).
        for (const h of holds.filter((x) => x.open)) {
          await ledger.releaseHold({ holdId: h.id });
          model[h.from]!.debitsPending -= h.remaining;
          model[h.to]!.creditsPending -= h.remaining;
        }

        for (let i = 1; i < ids.length; i++) {
          const b = await balances(ctx.pool, ids[i]!);
          expect({ i, ...b }).toMatchObject({ i, ...model[i] });
        }
        const bankAfter = await balances(ctx.pool, bank);
        expect(bankAfter.debitsPosted - bankBefore.debitsPosted).toBe(model[0]!.debitsPosted);
        expect(bankAfter.creditsPosted - bankBefore.creditsPosted).toBe(model[0]!.creditsPosted);
        expect(await checkInvariants(ctx.pool)).toEqual([]);
      }),
      { numRuns: numRuns(25) },
    );
  });
});
