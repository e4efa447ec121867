import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { checkInvariants } from '../../src/db/invariants';
import { captureHold, placeHold } from '../../src/db/ledger';
import { withTransaction } from '../../src/db/transaction';
import { createLogger } from '../../src/logger';
import { captureIdFor, holdIdFor, stepId } from '../../src/domain/ids';
import { balances, count, houseAccount, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

// The ledger activities called directly (no worker): the same code path a worker
// runs, minus Temporal's retries, so every outcome can be asserted precisely.
const ctx = useTestContext();
// Many calls here fail on purpose; their warnings would only be noise in a passing run.
const quiet = createLogger('silent', 'txmgr-test');
const ledger = () => createActivities({ pool: ctx.pool, logger: quiet });
const key = (what: string) => `ledger-test:${what}:${randomUUID()}`;

/** The non-retryable ApplicationFailure an activity call rejects with. */
async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedSuccess: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  const failure = err as ApplicationFailure;
  expect(failure.nonRetryable).toBe(true);
  return failure;
}

/** Credits `amount` minor units to a user account from the external bank (a deposit, in short). */
async function fund(accountId: string, amount: bigint, asset = 'USD'): Promise<void> {
  await ledger().transfer({
    idempotencyKey: key('fund'),
    debitAccountId: await houseAccount(ctx.pool, asset, 'external_bank'),
    creditAccountId: accountId,
    asset,
    amount: amount.toString(),
  });
}

async function fundedAccount(amount: bigint, asset = 'USD'): Promise<string> {
  const id = await openUserAccount(ctx.pool, asset);
  if (amount > 0n) await fund(id, amount, asset);
  return id;
}

const maxMetricId = async () =>
  BigInt(
    (await ctx.pool.query<{ id: string }>('SELECT COALESCE(MAX(id), 0)::text AS id FROM transaction_metrics')).rows[0]?.id ?? '0',
  );

interface MetricRow {
  operation: string;
  success: boolean;
  error: string | null;
  sqlstate: string | null;
  attempt: number;
  isolation: string;
  workflow_id: string | null;
}
const metricsSince = async (id: bigint) =>
  (await ctx.pool.query<MetricRow>('SELECT * FROM transaction_metrics WHERE id > $1 ORDER BY id', [id.toString()])).rows;

describe('accounts', () => {
  test('openAccount creates an empty user account; repeating it returns the same account', async () => {
    const accountId = randomUUID();
    const first = await ledger().openAccount({ accountId, asset: 'BTC', owner: 'alice' });
    expect(first).toEqual({
      accountId,
      asset: 'BTC',
      owner: 'alice',
      kind: 'user',
      debitsPending: '0',
      debitsPosted: '0',
      creditsPending: '0',
      creditsPosted: '0',
      balance: '0',
      available: '0',
    });
    expect(await ledger().openAccount({ accountId, asset: 'BTC', owner: 'alice' })).toEqual(first);
    const { rows } = await ctx.pool.query('SELECT kind, debits_must_not_exceed_credits FROM accounts WHERE id = $1', [accountId]);
    expect(rows).toEqual([{ kind: 'user', debits_must_not_exceed_credits: true }]);
  });

  test('reopening an account id with another owner or asset is an IdempotencyConflict; an unknown asset is a ValidationError', async () => {
    const accountId = randomUUID();
    await ledger().openAccount({ accountId, asset: 'USD', owner: 'bob' });
    const owner = await failureOf(ledger().openAccount({ accountId, asset: 'USD', owner: 'mallory' }));
    expect(owner.type).toBe('IdempotencyConflict');
    expect(owner.message).toMatch(/different owner/);
    const asset = await failureOf(ledger().openAccount({ accountId, asset: 'EUR', owner: 'bob' }));
    expect(asset.type).toBe('IdempotencyConflict');
    const unknown = await failureOf(ledger().openAccount({ accountId: randomUUID(), asset: 'DOGE', owner: 'bob' }));
    expect(unknown.type).toBe('ValidationError');
    expect(unknown.message).toMatch(/unknown asset "DOGE"/);
    expect(await count(ctx.pool, `SELECT 1 FROM accounts WHERE owner = 'mallory' OR asset = 'DOGE'`)).toBe(0);
  });
});

describe('transfers', () => {
  test('a transfer debits one account and credits the other, under the id derived from its key', async () => {
    const alice = await fundedAccount(10_000n);
    const bob = await openUserAccount(ctx.pool);
    const k = key('pay');
    const result = await ledger().transfer({
      idempotencyKey: k,
      debitAccountId: alice,
      creditAccountId: bob,
      asset: 'USD',
      amount: '2550',
    });
    expect(result).toEqual({ transferId: stepId(k), amount: '2550', created: true });
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPosted: 2550n,
      creditsPosted: 10_000n,
      balance: 7450n,
      available: 7450n,
    });
    expect(await balances(ctx.pool, bob)).toMatchObject({ creditsPosted: 2550n, balance: 2550n });
    const { rows } = await ctx.pool.query(
      'SELECT debit_account_id, credit_account_id, amount, step FROM transfers WHERE id = $1',
      [stepId(k)],
    );
    expect(rows).toEqual([{ debit_account_id: alice, credit_account_id: bob, amount: '2550', step: k }]);
  });

  test('a user account cannot be overdrawn; the refusal says what is available and moves nothing', async () => {
    const alice = await fundedAccount(100n);
    const bob = await openUserAccount(ctx.pool);
    const failure = await failureOf(
      ledger().transfer({
        idempotencyKey: key('overdraw'),
        debitAccountId: alice,
        creditAccountId: bob,
        asset: 'USD',
        amount: '101',
      }),
    );
    expect(failure.type).toBe('InsufficientFunds');
    expect(failure.message).toMatch(/100 USD minor units available, 101 needed/);
    expect((await balances(ctx.pool, alice)).balance).toBe(100n);
    expect((await balances(ctx.pool, bob)).balance).toBe(0n);
    // Exactly the balance is fine.
    await ledger().transfer({
      idempotencyKey: key('exact'),
      debitAccountId: alice,
      creditAccountId: bob,
      asset: 'USD',
      amount: '100',
    });
    expect((await balances(ctx.pool, alice)).balance).toBe(0n);
  });

  test.each<[string, (a: { alice: string; bob: string; btc: string }) => Record<string, string>, string, RegExp]>([
    ['zero amount', () => ({ amount: '0' }), 'ValidationError', /greater than zero/],
    ['negative amount', () => ({ amount: '-5' }), 'ValidationError', /without sign/],
    ['fractional amount', () => ({ amount: '1.5' }), 'ValidationError', /whole number/],
    ['same account on both sides', ({ alice }) => ({ creditAccountId: alice }), 'ValidationError', /two different accounts/],
    ['accounts of another asset', ({ btc }) => ({ creditAccountId: btc }), 'ValidationError', /holds BTC, not USD/],
    ['an unknown account', () => ({ creditAccountId: randomUUID() }), 'NotFound', /does not exist/],
    ['a malformed account id', () => ({ creditAccountId: 'not-a-uuid' }), 'ValidationError', /creditAccountId: must be a UUID/],
    ['a malformed asset', () => ({ asset: 'u$d' }), 'ValidationError', /asset: asset must be an upper-case code/],
  ])('%s is refused non-retryably and moves nothing', async (_name, patch, type, message) => {
    const alice = await fundedAccount(1000n);
    const bob = await openUserAccount(ctx.pool);
    const btc = await openUserAccount(ctx.pool, 'BTC');
    const transfersBefore = await count(ctx.pool, 'SELECT 1 FROM transfers');
    const failure = await failureOf(
      ledger().transfer({
        idempotencyKey: key('bad'),
        debitAccountId: alice,
        creditAccountId: bob,
        asset: 'USD',
        amount: '10',
        ...patch({ alice, bob, btc }),
      }),
    );
    expect(failure.type).toBe(type);
    expect(failure.message).toMatch(message);
    expect(await count(ctx.pool, 'SELECT 1 FROM transfers')).toBe(transfersBefore);
    expect((await balances(ctx.pool, alice)).balance).toBe(1000n);
  });
});

describe('holds', () => {
  test('partial captures repeat until the hold is used up; then a capture is HoldNotOpen', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const escrowBefore = await balances(ctx.pool, escrow);
    const holdKey = key('hold');
    const hold = await ledger().placeHold({
      idempotencyKey: holdKey,
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '600',
    });
    expect(hold).toEqual({
      holdId: holdIdFor(holdKey),
      amount: '600',
      status: 'open',
      captured: '0',
      released: '0',
      created: true,
    });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 600n, balance: 1000n, available: 400n });
    expect((await balances(ctx.pool, escrow)).creditsPending).toBe(escrowBefore.creditsPending + 600n);

    for (const [i, amount] of ['100', '250', '250'].entries()) {
      const capture = await ledger().captureHold({ idempotencyKey: key(`capture-${i}`), holdId: hold.holdId, amount });
      expect(capture).toMatchObject({ amount, created: true });
    }
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPending: 0n,
      debitsPosted: 600n,
      balance: 400n,
      available: 400n,
    });
    const escrowAfter = await balances(ctx.pool, escrow);
    expect(escrowAfter.creditsPending).toBe(escrowBefore.creditsPending);
    expect(escrowAfter.creditsPosted).toBe(escrowBefore.creditsPosted + 600n);
    const { rows } = await ctx.pool.query(
      'SELECT status, captured, released, closed_at IS NOT NULL AS closed FROM holds WHERE id = $1',
      [hold.holdId],
    );
    expect(rows).toEqual([{ status: 'captured', captured: '600', released: '0', closed: true }]);
    expect(await count(ctx.pool, 'SELECT 1 FROM transfers WHERE hold_id = $1', [hold.holdId])).toBe(3);

    // An activity retry of the last capture (its first reply lost) still succeeds, without moving money again.
    const lastCaptureKey = key('capture-last');
    const hold2 = await ledger().placeHold({
      idempotencyKey: key('hold2'),
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '5',
    });
    const last = await ledger().captureHold({ idempotencyKey: lastCaptureKey, holdId: hold2.holdId, amount: '5' });
    expect(await ledger().captureHold({ idempotencyKey: lastCaptureKey, holdId: hold2.holdId, amount: '5' })).toEqual({
      ...last,
      created: false,
    });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, debitsPosted: 605n, balance: 395n });

    const more = await failureOf(ledger().captureHold({ idempotencyKey: key('capture-more'), holdId: hold.holdId, amount: '1' }));
    expect(more.type).toBe('HoldNotOpen');
    expect(more.message).toMatch(/is captured; nothing is left to capture/);
    // Releasing a used-up hold is a no-op.
    expect(await ledger().releaseHold({ holdId: hold.holdId })).toEqual({ holdId: hold.holdId, released: '0' });
    expect((await balances(ctx.pool, alice)).balance).toBe(395n);
  });

  test('a capture above what is left fails and moves nothing; a retried capture returns the first one', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const hold = await ledger().placeHold({
      idempotencyKey: key('hold'),
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '500',
    });
    const captureKey = key('capture');
    const first = await ledger().captureHold({ idempotencyKey: captureKey, holdId: hold.holdId, amount: '450' });
    const retry = await ledger().captureHold({ idempotencyKey: captureKey, holdId: hold.holdId, amount: '450' });
    expect(retry).toEqual({ ...first, created: false });

    const over = await failureOf(ledger().captureHold({ idempotencyKey: key('over'), holdId: hold.holdId, amount: '51' }));
    expect(over.type).toBe('ValidationError');
    expect(over.message).toMatch(/capture of 51 exceeds the 50 left on hold/);
    const conflicting = await failureOf(ledger().captureHold({ idempotencyKey: captureKey, holdId: hold.holdId, amount: '40' }));
    expect(conflicting.type).toBe('IdempotencyConflict');
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPending: 50n,
      debitsPosted: 450n,
      balance: 550n,
      available: 500n,
    });

    const released = await ledger().releaseHold({ holdId: hold.holdId });
    expect(released).toEqual({ holdId: hold.holdId, released: '50' });
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPending: 0n,
      debitsPosted: 450n,
      balance: 550n,
      available: 550n,
    });
    const { rows } = await ctx.pool.query('SELECT status, captured, released FROM holds WHERE id = $1', [hold.holdId]);
    expect(rows).toEqual([{ status: 'released', captured: '450', released: '50' }]);
  });

  test('release frees the remainder once; repeating it, or releasing a hold that never existed, is a no-op', async () => {
    const alice = await fundedAccount(300n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const holdKey = key('hold');
    // A compensation may run before its step ever did: releasing by key before the hold exists does nothing...
    const earlyKey = key('early');
    expect(await ledger().releaseHold({ holdIdempotencyKey: earlyKey })).toEqual({ holdId: holdIdFor(earlyKey), released: '0' });
    expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE id = $1', [holdIdFor(earlyKey)])).toBe(0);
    // ...and a late attempt of that step, arriving after its compensation, places nothing.
    const late = await failureOf(
      ledger().placeHold({
        idempotencyKey: earlyKey,
        debitAccountId: alice,
        creditAccountId: escrow,
        asset: 'USD',
        amount: '300',
      }),
    );
    expect(late.type).toBe('HoldNotOpen');
    expect(late.nonRetryable).toBe(true);
    expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE id = $1', [holdIdFor(earlyKey)])).toBe(0);
    expect((await balances(ctx.pool, alice)).available).toBe(300n);

    await ledger().placeHold({
      idempotencyKey: holdKey,
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '300',
    });
    expect((await balances(ctx.pool, alice)).available).toBe(0n);
    expect(await ledger().releaseHold({ holdIdempotencyKey: holdKey })).toEqual({ holdId: holdIdFor(holdKey), released: '300' });
    expect(await ledger().releaseHold({ holdIdempotencyKey: holdKey })).toEqual({ holdId: holdIdFor(holdKey), released: '0' });
    expect(await ledger().releaseHold({ holdId: randomUUID() })).toMatchObject({ released: '0' });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, debitsPosted: 0n, available: 300n });

    const closed = await failureOf(
      ledger().captureHold({ idempotencyKey: key('late'), holdId: holdIdFor(holdKey), amount: '1' }),
    );
    expect(closed.type).toBe('HoldNotOpen');
    const missing = await failureOf(ledger().captureHold({ idempotencyKey: key('none'), holdId: randomUUID(), amount: '1' }));
    expect(missing.type).toBe('NotFound');
  });

  test('a placement racing its own release: each id is placed-and-released or tombstoned, never both or neither', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const keys = Array.from({ length: 20 }, (_, i) => key(`race-${i}`));
    const outcomes = await Promise.all(
      keys.map((k) =>
        Promise.allSettled([
          ledger().placeHold({ idempotencyKey: k, debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '10' }),
          ledger().releaseHold({ holdIdempotencyKey: k }),
        ]),
      ),
    );
    for (const [i, [place, release]] of outcomes.entries()) {
      const id = holdIdFor(keys[i]!);
      // The release is a compensation: it always succeeds.
      expect(release.status).toBe('fulfilled');
      const released = release.status === 'fulfilled' ? release.value : undefined;
      const placed = await count(ctx.pool, 'SELECT 1 FROM holds WHERE id = $1', [id]);
      const tombstoned = await count(ctx.pool, 'SELECT 1 FROM hold_tombstones WHERE id = $1', [id]);
      expect({ id, placed, tombstoned, both: placed + tombstoned }).toEqual({ id, placed, tombstoned, both: 1 });
      if (place.status === 'fulfilled') {
        // Placed first: the release freed all of it.
        expect(placed).toBe(1);
        expect(released).toEqual({ holdId: id, released: '10' });
      } else {
        // Released first: the only acceptable refusal of the late placement is HoldNotOpen.
        expect(place.reason).toBeInstanceOf(ApplicationFailure);
        expect(place.reason).toMatchObject({ type: 'HoldNotOpen', nonRetryable: true });
        expect(tombstoned).toBe(1);
        expect(released).toEqual({ holdId: id, released: '0' });
      }
    }
    const ids = keys.map(holdIdFor);
    expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE id = ANY($1::uuid[]) AND status = 'open'`, [ids])).toBe(0);
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, available: 1000n });
  });

  test('holds count against the available balance of a user account', async () => {
    const alice = await fundedAccount(100n);
    const bob = await openUserAccount(ctx.pool);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const hold = await ledger().placeHold({
      idempotencyKey: key('hold'),
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '70',
    });

    const transfer = await failureOf(
      ledger().transfer({ idempotencyKey: key('t'), debitAccountId: alice, creditAccountId: bob, asset: 'USD', amount: '31' }),
    );
    expect(transfer.type).toBe('InsufficientFunds');
    expect(transfer.message).toMatch(/30 USD minor units available, 31 needed/);
    const second = await failureOf(
      ledger().placeHold({
        idempotencyKey: key('h2'),
        debitAccountId: alice,
        creditAccountId: escrow,
        asset: 'USD',
        amount: '31',
      }),
    );
    expect(second.type).toBe('InsufficientFunds');
    await ledger().transfer({
      idempotencyKey: key('t-ok'),
      debitAccountId: alice,
      creditAccountId: bob,
      asset: 'USD',
      amount: '30',
    });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 70n, balance: 70n, available: 0n });
    await ledger().releaseHold({ holdId: hold.holdId });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, balance: 70n, available: 70n });
  });
});

describe('idempotency', () => {
  test('the same key with the same fields returns the existing transfer and moves money once', async () => {
    const alice = await fundedAccount(1000n);
    const bob = await openUserAccount(ctx.pool);
    const request = { idempotencyKey: key('pay'), debitAccountId: alice, creditAccountId: bob, asset: 'USD', amount: '1000' };
    const first = await ledger().transfer(request);
    // The retry comes after the money left: it must not be judged against the now-empty account.
    const second = await ledger().transfer(request);
    const concurrent = await Promise.all(Array.from({ length: 10 }, () => ledger().transfer(request)));
    expect(first.created).toBe(true);
    for (const r of [second, ...concurrent]) expect(r).toEqual({ ...first, created: false });
    expect((await balances(ctx.pool, alice)).balance).toBe(0n);
    expect((await balances(ctx.pool, bob)).balance).toBe(1000n);
    expect(await count(ctx.pool, 'SELECT 1 FROM transfers WHERE id = $1', [first.transferId])).toBe(1);
  });

  test.each<[string, (a: { carol: string }) => Record<string, string>, RegExp]>([
    ['amount', () => ({ amount: '11' }), /different amount/],
    ['credit account', ({ carol }) => ({ creditAccountId: carol }), /different credit account/],
  ])('the same transfer key with a different %s is a non-retryable IdempotencyConflict', async (_name, patch, message) => {
    const alice = await fundedAccount(1000n);
    const bob = await openUserAccount(ctx.pool);
    const carol = await openUserAccount(ctx.pool);
    const request = { idempotencyKey: key('pay'), debitAccountId: alice, creditAccountId: bob, asset: 'USD', amount: '10' };
    await ledger().transfer(request);
    const failure = await failureOf(ledger().transfer({ ...request, ...patch({ carol }) }));
    expect(failure.type).toBe('IdempotencyConflict');
    expect(failure.message).toMatch(message);
    expect(failure.message).toContain(stepId(request.idempotencyKey));
    expect((await balances(ctx.pool, alice)).balance).toBe(990n);
    expect((await balances(ctx.pool, bob)).balance).toBe(10n);
    expect((await balances(ctx.pool, carol)).balance).toBe(0n);
  });

  test('the same hold key returns the existing hold; with a different amount it is an IdempotencyConflict', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const request = { idempotencyKey: key('hold'), debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '400' };
    const first = await ledger().placeHold(request);
    expect(await ledger().placeHold(request)).toEqual({ ...first, created: false });
    const failure = await failureOf(ledger().placeHold({ ...request, amount: '401' }));
    expect(failure.type).toBe('IdempotencyConflict');
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 400n, available: 600n });
    await ledger().releaseHold({ holdId: first.holdId });
    // After the release a retry of the placement still returns the hold (now released) rather than placing it again.
    expect(await ledger().placeHold(request)).toMatchObject({ holdId: first.holdId, status: 'released', created: false });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, available: 1000n });
  });
});

describe('canonical ids and id namespaces', () => {
  test('upper-case, padded account and hold ids and lower-case asset codes name the same rows as their canonical forms', async () => {
    const alice = await fundedAccount(1000n);
    const bob = await openUserAccount(ctx.pool);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const loud = (id: string) => ` ${id.toUpperCase()} `;
    const request = {
      idempotencyKey: key('pay'),
      debitAccountId: loud(alice),
      creditAccountId: loud(bob),
      asset: ' usd',
      amount: '10',
    };
    const first = await ledger().transfer(request);
    // A retry with the canonical spelling is the same request, not a conflict.
    const retry = await ledger().transfer({ ...request, debitAccountId: alice, creditAccountId: bob, asset: 'USD' });
    expect(retry).toEqual({ ...first, created: false });
    expect(await ledger().getAccount(loud(bob))).toMatchObject({ accountId: bob, balance: '10' });

    const hold = await ledger().placeHold({ ...request, idempotencyKey: key('hold'), creditAccountId: loud(escrow) });
    expect(await ledger().captureHold({ idempotencyKey: key('cap'), holdId: loud(hold.holdId), amount: '4' })).toMatchObject({
      created: true,
    });
    expect(await ledger().releaseHold({ holdId: loud(hold.holdId) })).toEqual({ holdId: hold.holdId, released: '6' });
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, debitsPosted: 14n, balance: 986n });

    const accountId = randomUUID();
    const opened = await ledger().openAccount({ accountId: loud(accountId), asset: 'eur', owner: ' zoe ' });
    expect(opened).toMatchObject({ accountId, asset: 'EUR', owner: 'zoe' });
    expect(await ledger().openAccount({ accountId, asset: 'EUR', owner: 'zoe' })).toEqual(opened);
  });

  test('one idempotency key names a transfer, a hold and a capture with three different ids', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const k = key('shared');
    const movement = { idempotencyKey: k, debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '100' };
    const transfer = await ledger().transfer(movement);
    const hold = await ledger().placeHold(movement);
    const capture = await ledger().captureHold({ idempotencyKey: k, holdId: hold.holdId, amount: '100' });
    expect(transfer.transferId).toBe(stepId(k));
    expect(hold.holdId).toBe(holdIdFor(k));
    expect(capture.transferId).toBe(captureIdFor(k));
    expect(new Set([transfer.transferId, hold.holdId, capture.transferId]).size).toBe(3);
    expect([transfer.created, hold.created, capture.created]).toEqual([true, true, true]);
    expect((await balances(ctx.pool, alice)).debitsPosted).toBe(200n);
  });

  test('a hold and a capture written under the legacy (shared-namespace) id are found again by their keys', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const holdKey = key('legacy-hold');
    const captureKey = key('legacy-capture');
    const legacyHold = stepId(holdKey);
    // What an older worker wrote: the hold and one capture, ids from the one shared namespace.
    await withTransaction(ctx.pool, 'legacy', async (tx) => {
      await placeHold(tx, {
        id: legacyHold,
        debitAccountId: alice,
        creditAccountId: escrow,
        asset: 'USD',
        amount: 300n,
        step: holdKey,
      });
      await captureHold(tx, { transferId: stepId(captureKey), holdId: legacyHold, amount: 100n, step: captureKey });
    });
    const movement = { idempotencyKey: holdKey, debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: '300' };
    expect(await ledger().placeHold(movement)).toMatchObject({ holdId: legacyHold, created: false });
    expect(await ledger().captureHold({ idempotencyKey: captureKey, holdId: legacyHold, amount: '100' })).toEqual({
      transferId: stepId(captureKey),
      amount: '100',
      created: false,
    });
    expect(await ledger().releaseHold({ holdIdempotencyKey: holdKey })).toEqual({ holdId: legacyHold, released: '200' });
    expect(await count(ctx.pool, 'SELECT 1 FROM holds WHERE id = $1', [holdIdFor(holdKey)])).toBe(0);
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, debitsPosted: 100n, available: 900n });
  });

  test('releasing by key before anything was placed fences a late placement under the legacy id as well', async () => {
    const alice = await fundedAccount(100n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const k = key('fence');
    expect(await ledger().releaseHold({ holdIdempotencyKey: k })).toEqual({ holdId: holdIdFor(k), released: '0' });
    const late = await withTransaction(ctx.pool, 'legacy-late', (tx) =>
      placeHold(tx, { id: stepId(k), debitAccountId: alice, creditAccountId: escrow, asset: 'USD', amount: 50n, step: k }),
    ).catch((e: unknown) => e);
    expect(late).toMatchObject({ type: 'HoldNotOpen' });
    expect((await balances(ctx.pool, alice)).available).toBe(100n);
  });
});

describe('concurrency', () => {
  test('100 concurrent holds of 1 on an account holding 50: exactly 50 succeed, the rest are InsufficientFunds', async () => {
    const alice = await fundedAccount(50n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const activities = ledger();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) =>
        activities.placeHold({
          idempotencyKey: key(`h${i}`),
          debitAccountId: alice,
          creditAccountId: escrow,
          asset: 'USD',
          amount: '1',
        }),
      ),
    );
    const placed = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    expect(placed).toHaveLength(50);
    expect(refused).toHaveLength(50);
    for (const r of refused) {
      expect(r).toBeInstanceOf(ApplicationFailure);
      expect(r).toMatchObject({ type: 'InsufficientFunds', nonRetryable: true });
    }
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 50n, balance: 50n, available: 0n });
    expect(await count(ctx.pool, `SELECT 1 FROM holds WHERE debit_account_id = $1 AND status = 'open'`, [alice])).toBe(50);
    // Books balance while the holds are open (the saga check is left out: these holds belong to no saga).
    expect(await checkInvariants(ctx.pool)).toEqual([]);

    await Promise.all(placed.map((h) => activities.releaseHold({ holdId: h.holdId })));
    expect(await balances(ctx.pool, alice)).toMatchObject({ debitsPending: 0n, available: 50n });
  });

  test('concurrent captures and a release racing on one hold never take more than the hold', async () => {
    const alice = await fundedAccount(1000n);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const escrowBefore = await balances(ctx.pool, escrow);
    const activities = ledger();
    const hold = await activities.placeHold({
      idempotencyKey: key('hold'),
      debitAccountId: alice,
      creditAccountId: escrow,
      asset: 'USD',
      amount: '100',
    });
    const captures = Array.from({ length: 30 }, (_, i) =>
      activities.captureHold({ idempotencyKey: key(`c${i}`), holdId: hold.holdId, amount: '7' }),
    );
    const release = activities.releaseHold({ holdId: hold.holdId });
    const outcomes = await Promise.allSettled(captures);
    const released = BigInt((await release).released);
    const captured = BigInt(outcomes.filter((o) => o.status === 'fulfilled').length) * 7n;
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(['HoldNotOpen', 'ValidationError']).toContain((o.reason as ApplicationFailure).type);
    }
    // Whatever the interleaving, the hold is closed and split exactly between captures and the release.
    expect(captured + released).toBe(100n);
    const { rows } = await ctx.pool.query('SELECT status, captured, released FROM holds WHERE id = $1', [hold.holdId]);
    expect(rows[0].status).not.toBe('open');
    expect([BigInt(rows[0].captured), BigInt(rows[0].released)]).toEqual([captured, released]);
    expect(await balances(ctx.pool, alice)).toMatchObject({
      debitsPending: 0n,
      debitsPosted: captured,
      balance: 1000n - captured,
    });
    expect((await balances(ctx.pool, escrow)).creditsPosted).toBe(escrowBefore.creditsPosted + captured);
  });

  test('concurrent transfers in opposite directions do not deadlock and end exact', async () => {
    const alice = await fundedAccount(1000n);
    const bob = await fundedAccount(1000n);
    const before = await maxMetricId();
    const activities = ledger();
    const transfer = (from: string, to: string, amount: string, i: number) =>
      activities.transfer({ idempotencyKey: key(`x${i}`), debitAccountId: from, creditAccountId: to, asset: 'USD', amount });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? transfer(alice, bob, '7', i) : transfer(bob, alice, '3', i))),
    );
    expect(results.every((r) => r.created)).toBe(true);
    expect((await balances(ctx.pool, alice)).balance).toBe(1000n - 30n * 7n + 30n * 3n);
    expect((await balances(ctx.pool, bob)).balance).toBe(1000n + 30n * 7n - 30n * 3n);
    // Locks are taken in account-id order, so no try fails with a deadlock; had one, it would be retried locally
    // and every transfer would still have exactly one successful metrics row.
    const metrics = await metricsSince(before);
    expect(metrics.filter((m) => m.operation === 'transfer' && m.success)).toHaveLength(60);
    expect(metrics.filter((m) => m.sqlstate === '40P01')).toEqual([]);
  });
});

describe('transaction_metrics', () => {
  test('one row per transaction: committed, refused by a rule and refused by the database', async () => {
    const alice = await fundedAccount(100n);
    const bob = await openUserAccount(ctx.pool);
    const before = await maxMetricId();

    await ledger().transfer({
      idempotencyKey: key('ok'),
      debitAccountId: alice,
      creditAccountId: bob,
      asset: 'USD',
      amount: '10',
    });
    await failureOf(
      ledger().transfer({ idempotencyKey: key('no'), debitAccountId: alice, creditAccountId: bob, asset: 'USD', amount: '1000' }),
    );
    // PostgreSQL refuses a NUL character in text (22021): a data error, permanent.
    const rejected = await failureOf(ledger().openAccount({ accountId: randomUUID(), asset: 'USD', owner: 'nul\u0000owner' }));
    expect(rejected.type).toBe('DatabaseRejected');

    const rows = await metricsSince(before);
    expect(rows).toEqual([
      expect.objectContaining({
        operation: 'transfer',
        success: true,
        error: null,
        sqlstate: null,
        attempt: 1,
        isolation: 'read committed',
      }),
      expect.objectContaining({
        operation: 'transfer',
        success: false,
        error: expect.stringMatching(/^InsufficientFunds: account .* has 90 USD minor units available, 1000 needed/),
        sqlstate: null,
        attempt: 1,
        isolation: 'read committed',
      }),
      expect.objectContaining({
        operation: 'openAccount',
        success: false,
        error: expect.stringMatching(/invalid byte sequence/),
        sqlstate: '22021',
        attempt: 1,
      }),
    ]);
  });

  test('a row run by a worker carries the workflow id and activity', async () => {
    const tq = ctx.taskQueue();
    const workflowId = `open-${randomUUID()}`;
    const accountId = randomUUID();
    await ctx.withWorker(tq, () =>
      ctx.temporal.workflow.execute('openAccount', {
        taskQueue: tq,
        workflowId,
        args: [{ accountId, asset: 'EUR', owner: 'dora' }],
      }),
    );
    const { rows } = await ctx.pool.query<MetricRow & { activity: string }>(
      'SELECT * FROM transaction_metrics WHERE workflow_id = $1',
      [workflowId],
    );
    expect(rows).toEqual([
      expect.objectContaining({ operation: 'openAccount', activity: 'openAccount', success: true, attempt: 1 }),
    ]);
    expect(await count(ctx.pool, 'SELECT 1 FROM accounts WHERE id = $1', [accountId])).toBe(1);
  });
});
