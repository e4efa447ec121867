import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { depositFiat } from '../../src/workflows';
import type { DomainError } from '../../src/domain/errors';
import { balances, count, houseAccount, openUserAccount } from '../helpers/fixtures';
import { checkInvariants } from '../../src/db/invariants';
import { depositCreditStep, depositReversalStep } from '../../src/domain/deposit';
import { eventually, useTestContext } from '../helpers/context';

const ctx = useTestContext();
const ref = () => `REF-${randomUUID().slice(0, 12)}`;

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('fiat deposit saga', () => {
  test('an ordinary deposit credits the account from the external bank and writes one outbox event', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const result = await ctx.withWorker(tq, async () => {
      const r = await ctx
        .client(tq)
        .depositFiat({ accountId: account, asset: 'USD', amount: '250.75', bankReference: reference, senderName: 'Ann Payer' });
      return { ...r, saga: await ctx.temporal.workflow.getHandle(`deposit-${reference}`).query('sagaStatus') };
    });
    expect(result).toMatchObject({ status: 'CREDITED', amount: '25075', bankReference: reference });
    expect((await balances(ctx.pool, account)).balance).toBe(25075n);
    const { rows } = await ctx.pool.query('SELECT status, transfer_id FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toEqual([{ status: 'CREDITED', transfer_id: result.transferId }]);
    expect(
      await count(ctx.pool, `SELECT 1 FROM outbox WHERE topic = 'deposit.credited' AND payload->>'bankReference' = $1`, [
        reference,
      ]),
    ).toBe(1);
    expect(result.saga).toMatchObject({ status: 'COMPLETED', stepsDone: ['validate', 'record', 'screen', 'credit', 'notify'] });
    const metrics = await count(ctx.pool, 'SELECT 1 FROM transaction_metrics WHERE workflow_id = $1 AND success', [
      `deposit-${reference}`,
    ]);
    expect(metrics).toBeGreaterThanOrEqual(5);
  });

  test('a deposit above the review threshold waits for approval, then credits', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    await ctx.withWorker(tq, async () => {
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: reference,
        senderName: 'Big Payer',
      });
      await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
      const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
      expect(rows[0].status).toBe('IN_REVIEW');
      expect((await balances(ctx.pool, account)).balance).toBe(0n);
      await client.approveDeposit(reference, { reviewer: 'olga', reason: 'documents checked' });
      const result = await ctx.temporal.workflow.getHandle<typeof depositFiat>(`deposit-${reference}`).result();
      expect(result.status).toBe('CREDITED');
    });
    expect((await balances(ctx.pool, account)).balance).toBe(2_000_000n);
  });

  test('a reviewer rejection credits nothing and marks the deposit rejected', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    const [failure, saga] = await ctx.withWorker(tq, async () => {
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '15000.00',
        bankReference: reference,
        senderName: 'Big Payer',
      });
      await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
      await client.rejectDeposit(reference, { reviewer: 'olga', reason: 'unexplained source' });
      const f = await failureOf(ctx.temporal.workflow.getHandle(`deposit-${reference}`).result());
      return [f, await client.sagaStatus(`deposit-${reference}`)] as const;
    });
    expect(failure.type).toBe('ComplianceRejected');
    expect(failure.message).toContain('olga');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
    const { rows } = await ctx.pool.query('SELECT status, reason FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows[0].status).toBe('REJECTED');
    expect(rows[0].reason).toContain('unexplained source');
    expect(saga).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
  });

  test('a review with no decision before the timeout is rejected', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const failure = await ctx.withWorker(tq, () =>
      failureOf(
        ctx.client(tq).depositFiat({
          accountId: account,
          asset: 'USD',
          amount: '12000.00',
          bankReference: reference,
          senderName: 'Slow Review',
          reviewTimeoutSeconds: 2,
        }),
      ),
    );
    expect(failure.type).toBe('ComplianceRejected');
    expect(failure.message).toMatch(/no review decision within 2s/);
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('a sender on the deny list is rejected and nothing is credited', async () => {
    await ctx.pool.query(`INSERT INTO compliance_deny_list (name, reason) VALUES ('eve blocked', 'test list')`);
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const failure = await ctx.withWorker(tq, () =>
      failureOf(
        ctx.client(tq).depositFiat({
          accountId: account,
          asset: 'USD',
          amount: '10.00',
          bankReference: reference,
          senderName: '  Eve   BLOCKED ',
        }),
      ),
    );
    expect(failure.type).toBe('ComplianceRejected');
    expect(failure.message).toContain('deny list');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
    expect(
      await count(
        ctx.pool,
        // the saga's own events; the change log's (topic change.*) record the rejected row as it landed
        `SELECT 1 FROM outbox WHERE aggregate_id IN (SELECT id::text FROM deposits WHERE bank_reference = $1) AND topic NOT LIKE 'change.%'`,
        [reference],
      ),
    ).toBe(0);
  });

  test('the same bank reference twice credits once and returns the first outcome', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const request = { accountId: account, asset: 'USD', amount: '42.00', bankReference: reference, senderName: 'Twice Sent' };
    const [first, second] = await ctx.withWorker(tq, async () => {
      const a = await ctx.client(tq).depositFiat(request);
      const b = await ctx.client(tq).depositFiat(request);
      return [a, b];
    });
    expect(second).toEqual(first);
    expect((await balances(ctx.pool, account)).balance).toBe(4200n);
  });

  test('a second workflow with a reused bank reference is reported DUPLICATE and moves nothing', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    const input = await client.prepareDeposit({
      accountId: account,
      asset: 'USD',
      amount: '7.00',
      bankReference: reference,
      senderName: 'Replay Bank',
    });
    const [first, second] = await ctx.withWorker(tq, async () => {
      const a = await ctx.temporal.workflow.execute(depositFiat, {
        taskQueue: tq,
        workflowId: `direct-a-${reference}`,
        args: [input],
      });
      const b = await ctx.temporal.workflow.execute(depositFiat, {
        taskQueue: tq,
        workflowId: `direct-b-${reference}`,
        args: [input],
      });
      return [a, b];
    });
    expect(first.status).toBe('CREDITED');
    expect(second).toMatchObject({
      status: 'DUPLICATE',
      depositId: first.depositId,
      originalWorkflowId: `direct-a-${reference}`,
    });
    expect((await balances(ctx.pool, account)).balance).toBe(700n);
  });

  test('a reused bank reference with a different amount is an IdempotencyConflict', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    await ctx.withWorker(tq, () =>
      client.depositFiat({ accountId: account, asset: 'USD', amount: '5.00', bankReference: reference, senderName: 'A' }),
    );
    const err = (await client
      .depositFiat({ accountId: account, asset: 'USD', amount: '6.00', bankReference: reference, senderName: 'A' })
      .catch((e: unknown) => e)) as DomainError;
    expect(err.type).toBe('IdempotencyConflict');
    expect((await balances(ctx.pool, account)).balance).toBe(500n);
  });

  describe('bad input is rejected before any write, naming the field', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['negative amount', { amount: '-5.00' }, /amount/],
      ['zero amount', { amount: '0.00' }, /amount must be greater than zero/],
      ['too many decimals', { amount: '1.001' }, /3 decimal places but the asset allows 2/],
      ['exponent notation', { amount: '1e3' }, /amount/],
      ['a number instead of a string', { amount: 10 }, /amount/],
      ['unknown asset', { asset: 'XYZ' }, /asset: unknown asset "XYZ"/],
      ['unknown account', { accountId: '00000000-0000-4000-8000-000000000000' }, /accountId: account .* does not exist/],
      ['malformed account id', { accountId: 'not-a-uuid' }, /accountId/],
      ['empty reference', { bankReference: '' }, /bankReference must not be empty/],
      ['oversized reference', { bankReference: 'R'.repeat(65) }, /bankReference must be at most 64/],
      ['empty sender', { senderName: '   ' }, /senderName must not be empty/],
      ['extra field', { surprise: true }, /surprise|Unrecognized/],
    ];
    test.each(cases)('%s', async (_name, patch, message) => {
      const account = await openUserAccount(ctx.pool);
      const before = await count(ctx.pool, 'SELECT 1 FROM deposits');
      const request = {
        accountId: account,
        asset: 'USD',
        amount: '1.00',
        bankReference: ref(),
        senderName: 'Val Idation',
        ...patch,
      };
      const err = (await ctx
        .client(ctx.taskQueue())
        .startDeposit(request as never)
        .catch((e: unknown) => e)) as DomainError;
      expect(err.type).toBe('ValidationError');
      expect(err.message).toMatch(message);
      expect(await count(ctx.pool, 'SELECT 1 FROM deposits')).toBe(before);
    });

    test('a malformed input that bypasses the client fails the saga at validate, writes nothing, and the worker keeps serving', async () => {
      const tq = ctx.taskQueue();
      const account = await openUserAccount(ctx.pool);
      const before = await count(ctx.pool, 'SELECT 1 FROM deposits');
      await ctx.withWorker(tq, async () => {
        const failure = await failureOf(
          ctx.temporal.workflow.execute('depositFiat', {
            taskQueue: tq,
            workflowId: `bad-${randomUUID()}`,
            args: [{ accountId: account, asset: 'USD', amount: '1e5', bankReference: ref(), senderName: 'X' }],
          }),
        );
        expect(failure.type).toBe('ValidationError');
        expect(failure.message).toContain('amount');
        const ok = await ctx
          .client(tq)
          .depositFiat({ accountId: account, asset: 'USD', amount: '1.00', bankReference: ref(), senderName: 'Y' });
        expect(ok.status).toBe('CREDITED');
      });
      expect(await count(ctx.pool, 'SELECT 1 FROM deposits')).toBe(before + 1);
    });
  });
});

describe('deposit steps that arrive late or twice', () => {
  const acts = () => createActivities({ pool: ctx.pool, logger: ctx.logger });

  async function recordedDeposit(amount: string) {
    const account = await openUserAccount(ctx.pool);
    const input = await ctx.client(ctx.taskQueue()).prepareDeposit({
      accountId: account,
      asset: 'USD',
      amount,
      bankReference: ref(),
      senderName: 'Late Step',
    });
    const deposit = await acts().recordDeposit(input);
    return { account, input, deposit };
  }

  test('a credit attempt that lands after the deposit was rejected moves nothing', async () => {
    const { account, input, deposit } = await recordedDeposit('30.00');
    await acts().rejectDepositRecord({ bankReference: input.bankReference, reason: 'saga gave up' });
    const err = (await acts()
      .creditDeposit({ depositId: deposit.depositId, idempotencyKey: `late-${deposit.depositId}:credit` })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err.type).toBe('InvalidState');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('REJECTED');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('a repeated credit returns the first transfer; after a reversal nothing is credited again', async () => {
    const { account, deposit } = await recordedDeposit('40.00');
    const key = `twice-${deposit.depositId}:credit`;
    const first = await acts().creditDeposit({ depositId: deposit.depositId, idempotencyKey: key });
    expect(await acts().creditDeposit({ depositId: deposit.depositId, idempotencyKey: key })).toEqual(first);
    expect((await balances(ctx.pool, account)).balance).toBe(4000n);

    await acts().reverseDepositCredit({ depositId: deposit.depositId, idempotencyKey: key, reason: 'test' });
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
    const again = (await acts()
      .creditDeposit({ depositId: deposit.depositId, idempotencyKey: key })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(again.type).toBe('InvalidState');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('a deposit in review stays in review when screened again after the threshold moved', async () => {
    const { deposit } = await recordedDeposit('20000.00');
    expect((await acts().screenDeposit(deposit.depositId)).decision).toBe('review');
    await ctx.pool.query(`UPDATE compliance_settings SET review_threshold = 100000000 WHERE asset = 'USD'`);
    try {
      expect((await acts().screenDeposit(deposit.depositId)).decision).toBe('review');
    } finally {
      await ctx.pool.query(`UPDATE compliance_settings SET review_threshold = 1000000 WHERE asset = 'USD'`);
    }
    const err = (await acts()
      .creditDeposit({ depositId: deposit.depositId, idempotencyKey: `review-${deposit.depositId}:credit` })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('InvalidState');
  });
});

describe('deposit saga under faults, cancels and late steps', () => {
  const real = () => createActivities({ pool: ctx.pool, logger: ctx.logger });
  // More faults in a row than the old fixed budget of 8 attempts; a short retry delay keeps it quick.
  const FAULTS = 12;
  const transient = () =>
    ApplicationFailure.create({ type: 'ConnectionLost', message: 'connection terminated', nextRetryDelay: '20 milliseconds' });

  /** Wraps a real activity: `before` faults before it runs (database down), `after` faults after it committed (reply lost). */
  function faulty<I, O>(fn: (i: I) => Promise<O>, o: { before?: number; after?: number }) {
    let calls = 0;
    return async (i: I): Promise<O> => {
      calls++;
      if (calls <= (o.before ?? 0)) throw transient();
      const result = await fn(i);
      if (calls <= (o.before ?? 0) + (o.after ?? 0)) throw transient();
      return result;
    };
  }

  const request = (account: string, amount: string, reference: string) => ({
    accountId: account,
    asset: 'USD',
    amount,
    bankReference: reference,
    senderName: 'Fault Tolerant',
  });

  test.each([
    ['screen', '10.00', { screenDeposit: faulty((id: string) => real().screenDeposit(id), { before: FAULTS }) }],
    [
      'approve',
      '20000.00',
      {
        markDepositApproved: faulty((i: { depositId: string; reason: string }) => real().markDepositApproved(i), {
          before: FAULTS,
        }),
      },
    ],
    [
      'credit',
      '10.00',
      {
        creditDeposit: faulty((i: { depositId: string; idempotencyKey: string }) => real().creditDeposit(i), { after: FAULTS }),
      },
    ],
  ] as const)(
    'transient faults in %s for longer than the old retry budget still end CREDITED, never refunded',
    async (_step, amount, overrides) => {
      const tq = ctx.taskQueue();
      const account = await openUserAccount(ctx.pool);
      const reference = ref();
      const client = ctx.client(tq);
      const [result, saga] = await ctx.withWorker(
        tq,
        async () => {
          await client.startDeposit(request(account, amount, reference));
          if (amount !== '10.00') {
            await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
            await client.approveDeposit(reference, { reviewer: 'olga' });
          }
          const r = await ctx.temporal.workflow.getHandle<typeof depositFiat>(`deposit-${reference}`).result();
          return [r, await client.sagaStatus(`deposit-${reference}`)] as const;
        },
        { extraActivities: overrides },
      );
      expect(result.status).toBe('CREDITED');
      expect(saga).toMatchObject({ status: 'COMPLETED', compensationsRun: [] });
      const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
      expect(rows).toEqual([{ status: 'CREDITED' }]);
      expect((await balances(ctx.pool, account)).balance).toBe(BigInt(amount.replace('.', '')));
    },
  );

  test('a credit whose reply is lost until the deadline is reversed and the deposit rejected, in one fenced step', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    const input = { ...(await client.prepareDeposit(request(account, '10.00', reference))), deadlineSeconds: 3 };
    const [failure, saga] = await ctx.withWorker(
      tq,
      async () => {
        const handle = await ctx.temporal.workflow.start(depositFiat, {
          taskQueue: tq,
          workflowId: `deposit-${reference}`,
          args: [input],
        });
        const f = await handle.result().then(
          () => undefined,
          (e: unknown) => e,
        );
        return [f, await client.sagaStatus(`deposit-${reference}`)] as const;
      },
      { extraActivities: { creditDeposit: faulty(real().creditDeposit, { after: Number.MAX_SAFE_INTEGER }) } },
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'DeadlineExceeded' });
    expect(saga).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
    const { rows } = await ctx.pool.query('SELECT status, transfer_id FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toEqual([{ status: 'REJECTED', transfer_id: null }]);
  });

  test('a cancel while notify runs is answered: the credit stays and the saga completes', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    let started = false;
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const notifyDeposit = async (i: Parameters<ReturnType<typeof real>['notifyDeposit']>[0]) => {
      started = true;
      await opened;
      return real().notifyDeposit(i);
    };
    const [result, saga] = await ctx.withWorker(
      tq,
      async () => {
        await client.startDeposit(request(account, '10.00', reference));
        const handle = ctx.temporal.workflow.getHandle<typeof depositFiat>(`deposit-${reference}`);
        await eventually(async () => started);
        await handle.cancel();
        try {
          // The workflow has seen the cancel: a workflow task completed after the request.
          await eventually(async () => {
            const events = (await handle.fetchHistory()).events ?? [];
            const requested = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
            return requested >= 0 && events.slice(requested).some((e) => e.workflowTaskCompletedEventAttributes);
          });
        } finally {
          open();
        }
        const r = await handle.result();
        return [r, await client.sagaStatus(`deposit-${reference}`)] as const;
      },
      { extraActivities: { notifyDeposit } },
    );
    expect(result.status).toBe('CREDITED');
    expect(saga).toMatchObject({ status: 'COMPLETED', pointOfNoReturn: 'credit', cancelRequested: true, compensationsRun: [] });
    expect(saga.stepsDone).toEqual(['validate', 'record', 'screen', 'credit', 'notify']);
    expect((await balances(ctx.pool, account)).balance).toBe(1000n);
  });

  test('a cancel during review rejects the deposit and credits nothing', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const client = ctx.client(tq);
    const saga = await ctx.withWorker(tq, async () => {
      await client.startDeposit(request(account, '20000.00', reference));
      await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
      const handle = ctx.temporal.workflow.getHandle(`deposit-${reference}`);
      await handle.cancel();
      await handle.result().catch(() => undefined);
      return client.sagaStatus(`deposit-${reference}`);
    });
    expect(saga).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
    const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [reference]);
    expect(rows).toEqual([{ status: 'REJECTED' }]);
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });
});

describe('the fenced inverse of a deposit', () => {
  const acts = () => createActivities({ pool: ctx.pool, logger: ctx.logger });

  async function prepared(amount: string) {
    const account = await openUserAccount(ctx.pool);
    const input = await ctx.client(ctx.taskQueue()).prepareDeposit({
      accountId: account,
      asset: 'USD',
      amount,
      bankReference: ref(),
      senderName: 'Fenced Inverse',
    });
    const placeholder = { accountId: input.accountId, asset: input.asset, amount: input.amount, senderName: input.senderName };
    // Called directly, the owner is `direct:<reference>`, and so is the saga's credit key.
    const creditKey = `direct:${input.bankReference}:credit`;
    return { account, input, placeholder, creditKey };
  }

  test('a record attempt that arrives after the inverse found nothing records nothing and burns no reference', async () => {
    const { account, input, placeholder, creditKey } = await prepared('30.00');
    await acts().rejectDepositRecord({ bankReference: input.bankReference, reason: 'saga gave up', placeholder, creditKey });
    const late = await acts().recordDeposit(input);
    expect(late).toMatchObject({ status: 'REJECTED', duplicate: false });
    const { rows } = await ctx.pool.query('SELECT status, reason FROM deposits WHERE bank_reference = $1', [input.bankReference]);
    expect(rows).toEqual([{ status: 'REJECTED', reason: 'rejected before it was recorded: saga gave up' }]);
    const err = (await acts()
      .creditDeposit({ depositId: late.depositId, idempotencyKey: creditKey })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('InvalidState');
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('the inverse reverses only its own credit', async () => {
    const { account, input, placeholder, creditKey } = await prepared('40.00');
    const deposit = await acts().recordDeposit(input);
    await acts().creditDeposit({ depositId: deposit.depositId, idempotencyKey: creditKey });
    const err = (await acts()
      .rejectDepositRecord({ bankReference: input.bankReference, reason: 'x', placeholder, creditKey: 'someone-else:credit' })
      .catch((e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('IdempotencyConflict');
    expect((await balances(ctx.pool, account)).balance).toBe(4000n);
    expect(await acts().rejectDepositRecord({ bankReference: input.bankReference, reason: 'x', placeholder, creditKey })).toEqual(
      {
        changed: true,
        reversed: true,
      },
    );
    expect((await balances(ctx.pool, account)).balance).toBe(0n);
  });

  test('the double-credit invariant counts credits by bank reference, whichever workflow made them', async () => {
    const { account, input, creditKey } = await prepared('60.00');
    const deposit = await acts().recordDeposit(input);
    await acts().creditDeposit({ depositId: deposit.depositId, idempotencyKey: creditKey });
    expect(await checkInvariants(ctx.pool)).toEqual([]);
    // A second workflow's credit of the same reference (its own workflow id, not the deposit's).
    const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
    const move = { asset: 'USD', amount: '6000' };
    await acts().transfer({
      idempotencyKey: depositCreditStep(input.bankReference),
      debitAccountId: bank,
      creditAccountId: account,
      ...move,
    });
    expect(await checkInvariants(ctx.pool)).toEqual([
      `deposit ${deposit.depositId} (${input.bankReference}, CREDITED) has 2 standing credits, expected 1`,
    ]);
    await acts().transfer({
      idempotencyKey: depositReversalStep(input.bankReference),
      debitAccountId: account,
      creditAccountId: bank,
      ...move,
    });
    expect(await checkInvariants(ctx.pool)).toEqual([]);
  });

  test.each(['credit first', 'inverse first'])(
    'a late credit interleaved with the inverse (%s) never leaves the user paid for a rejected deposit',
    async (order) => {
      const { account, input, placeholder, creditKey } = await prepared('50.00');
      const deposit = await acts().recordDeposit(input);
      const waiting = async () =>
        Number(
          (
            await ctx.pool.query<{ n: string }>(
              `SELECT COUNT(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            )
          ).rows[0]?.n,
        );
      // Hold the deposit's row lock so both attempts queue behind it in a known order.
      const blocker = await ctx.pool.connect();
      await blocker.query('BEGIN');
      await blocker.query('SELECT 1 FROM deposits WHERE id = $1 FOR UPDATE', [deposit.depositId]);
      const credit = () => acts().creditDeposit({ depositId: deposit.depositId, idempotencyKey: creditKey });
      const inverse = () =>
        acts().rejectDepositRecord({ bankReference: input.bankReference, reason: 'gave up', placeholder, creditKey });
      const [first, second] = order === 'credit first' ? [credit, inverse] : [inverse, credit];
      const a = first().catch((e: unknown) => e);
      await eventually(async () => (await waiting()) === 1);
      const b = second().catch((e: unknown) => e);
      await eventually(async () => (await waiting()) === 2);
      await blocker.query('COMMIT');
      blocker.release();
      await Promise.all([a, b]);
      const { rows } = await ctx.pool.query('SELECT status, transfer_id FROM deposits WHERE id = $1', [deposit.depositId]);
      expect(rows).toEqual([{ status: 'REJECTED', transfer_id: null }]);
      expect((await balances(ctx.pool, account)).balance).toBe(0n);
    },
  );
});
