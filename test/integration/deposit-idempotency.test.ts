import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import type { DomainError } from '../../src/domain/errors';
import { createLogger } from '../../src/logger';
import { depositFiat } from '../../src/workflows';
import { balances, count, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

// A deposit takes effect once per bank reference, whatever the spelling of its ids,
// however its attempts overlap and whichever path a conflicting request takes.
const ctx = useTestContext();
const ref = () => `REF-${randomUUID().slice(0, 12)}`;
const quiet = createLogger('silent', 'txmgr-test');
const acts = () => createActivities({ pool: ctx.pool, logger: quiet });

async function workflowFailure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    (value: unknown) => ({ unexpectedSuccess: value }),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

describe('recordDeposit', () => {
  test('150 rounds of 3 overlapping attempts of one recordDeposit all succeed with the same row', async () => {
    const account = await openUserAccount(ctx.pool);
    const activities = acts();
    const unexpected: unknown[] = [];
    for (let round = 0; round < 150; round++) {
      const input = { accountId: account, asset: 'USD', amount: '125', bankReference: ref(), senderName: 'Race Payer' };
      const outcomes = await Promise.allSettled([1, 2, 3].map(() => activities.recordDeposit(input)));
      for (const o of outcomes) if (o.status === 'rejected') unexpected.push(o.reason);
      const ids = new Set(outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.depositId] : [])));
      expect(ids.size).toBeLessThanOrEqual(1);
      expect(await count(ctx.pool, 'SELECT 1 FROM deposits WHERE bank_reference = $1', [input.bankReference])).toBe(1);
    }
    expect(unexpected).toEqual([]);
  });

  test('a retry spelled with upper-case ids and a lower-case asset is the same deposit, not a conflict with itself', async () => {
    const account = await openUserAccount(ctx.pool);
    const input = {
      accountId: ` ${account.toUpperCase()}`,
      asset: 'usd',
      amount: '300',
      bankReference: ` ${ref()} `,
      senderName: 'Loud Payer',
    };
    const first = await acts().recordDeposit(input);
    const retry = await acts().recordDeposit(input);
    expect(retry).toEqual(first);
    const { rows } = await ctx.pool.query('SELECT account_id, asset, bank_reference FROM deposits WHERE id = $1', [
      first.depositId,
    ]);
    expect(rows).toEqual([{ account_id: account, asset: 'USD', bank_reference: input.bankReference.trim() }]);
  });

  test('the activity itself refuses a second workflow that reuses a bank reference with another amount', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const reference = ref();
    const input = { accountId: account, asset: 'USD', amount: '500', bankReference: reference, senderName: 'First Payer' };
    const failure = await ctx.withWorker(
      tq,
      async () => {
        const first = await ctx.temporal.workflow.execute(depositFiat, {
          taskQueue: tq,
          workflowId: `a-${reference}`,
          args: [input],
        });
        expect(first.status).toBe('CREDITED');
        // Started by id directly: the client's own check is not on this path.
        return workflowFailure(
          ctx.temporal.workflow.execute(depositFiat, {
            taskQueue: tq,
            workflowId: `b-${reference}`,
            args: [{ ...input, amount: '501' }],
          }),
        );
      },
      // The refusal is the expected outcome: keep the activity's warning out of a passing run.
      { logger: quiet },
    );
    expect(failure.type).toBe('IdempotencyConflict');
    expect(failure.message).toMatch(
      new RegExp(`bank reference ${reference} was already used .*\\(5\\.00 USD to account .*the amount differs`),
    );
    expect((await balances(ctx.pool, account)).balance).toBe(500n);
    expect(await count(ctx.pool, 'SELECT 1 FROM deposits WHERE bank_reference = $1', [reference])).toBe(1);
  });
});

describe('the client', () => {
  test('a deposit given upper-case ids and a lower-case asset runs to CREDITED; the balance is read back with the same spelling', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const client = ctx.client(tq);
    const result = await ctx.withWorker(tq, () =>
      client.depositFiat({
        accountId: account.toUpperCase(),
        asset: ' usd ',
        amount: '12.34',
        bankReference: ` ${ref()}`,
        senderName: 'Case Payer',
      }),
    );
    expect(result).toMatchObject({ status: 'CREDITED', accountId: account, asset: 'USD', amount: '1234' });
    expect(await client.getBalance(account.toUpperCase())).toMatchObject({ accountId: account, balanceDisplay: '12.34' });
  });

  test('a second request for a reference whose saga has not recorded it yet is an IdempotencyConflict when it differs', async () => {
    const tq = ctx.taskQueue();
    const account = await openUserAccount(ctx.pool);
    const other = await openUserAccount(ctx.pool);
    const client = ctx.client(tq);
    const request = { accountId: account, asset: 'USD', amount: '20.00', bankReference: ref(), senderName: 'Early Payer' };
    // No worker yet: the first saga is started but cannot have recorded anything.
    expect(await client.startDeposit(request)).toMatchObject({ started: true });
    expect(await count(ctx.pool, 'SELECT 1 FROM deposits WHERE bank_reference = $1', [request.bankReference])).toBe(0);

    const conflict = async (patch: Partial<typeof request>) =>
      (await client.startDeposit({ ...request, ...patch }).catch((e: unknown) => e)) as DomainError;
    const amount = await conflict({ amount: '21.00' });
    expect(amount).toMatchObject({ type: 'IdempotencyConflict' });
    expect(amount.message).toMatch(/with a different amount \(20\.00 USD to account/);
    expect(await conflict({ accountId: other })).toMatchObject({ type: 'IdempotencyConflict', message: /different accountId/ });
    expect(await conflict({ senderName: 'Someone Else' })).toMatchObject({ message: /different senderName/ });
    // The identical request attaches to the first, as before.
    expect(await client.startDeposit({ ...request, accountId: account.toUpperCase() })).toMatchObject({ started: false });

    const result = await ctx.withWorker(tq, () => client.depositFiat(request));
    expect(result).toMatchObject({ status: 'CREDITED', amount: '2000' });
    expect((await balances(ctx.pool, account)).balance).toBe(2000n);
    expect((await balances(ctx.pool, other)).balance).toBe(0n);
  });
});
