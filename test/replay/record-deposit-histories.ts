/**
 * Records the deposit saga's histories for the replay tests. Not a test: run it
 * with `npm run record-histories` after a deliberate, versioned workflow change.
 * Every path asserts its outcome, so a recording of the wrong path fails instead of
 * being saved. `deposit-v1-*.json` were recorded before the fenced inverse and the
 * point of no return (DEPOSIT_FENCES_PATCH) and are kept as they are.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { depositFiat, retryCompensationSignal } from '../../src/workflows';
import { eventually, useTestContext } from '../helpers/context';
import { balances, houseAccount, openUserAccount } from '../helpers/fixtures';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

async function save(name: string, workflowId: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(workflowId).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

/** The failure type a workflow ended with; fails the recording if it succeeded. */
async function failureType(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkflowFailedError);
  const cause = (err as WorkflowFailedError).cause;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : cause?.name;
}

test('record deposit histories', async () => {
  await ctx.pool.query(`INSERT INTO compliance_deny_list (name, reason) VALUES ('mallory sanctioned', 'replay fixture')`);
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  const account = await openUserAccount(ctx.pool);
  const ref = (n: string) => `REPLAY-${n}-${randomUUID().slice(0, 8)}`;
  const base = { accountId: account, asset: 'USD', senderName: 'Replay Sender' };
  const status = (reference: string) => client.sagaStatus(`deposit-${reference}`);
  const handle = (reference: string) => ctx.temporal.workflow.getHandle<typeof depositFiat>(`deposit-${reference}`);
  const real = createActivities({ pool: ctx.pool, logger: ctx.logger });

  let notifyStarted = false;
  let openNotify!: () => void;
  const notifyGate = new Promise<void>((resolve) => (openNotify = resolve));
  const gatedNotify: typeof real.notifyDeposit = async (i) => {
    if (i.idempotencyKey.includes('-afterCredit-')) {
      notifyStarted = true;
      await notifyGate;
    }
    return real.notifyDeposit(i);
  };

  await ctx.withWorker(
    tq,
    async () => {
      const ordinary = ref('ordinary');
      expect((await client.depositFiat({ ...base, amount: '10.00', bankReference: ordinary })).status).toBe('CREDITED');
      await save('deposit-ordinary', `deposit-${ordinary}`);

      const approved = ref('approved');
      await client.startDeposit({ ...base, amount: '20000.00', bankReference: approved });
      await eventually(async () => (await status(approved)).stepsDone.includes('screen'));
      await client.approveDeposit(approved, { reviewer: 'replay-reviewer' });
      expect((await handle(approved).result()).status).toBe('CREDITED');
      await save('deposit-review-approved', `deposit-${approved}`);

      const rejected = ref('rejected');
      await client.startDeposit({ ...base, amount: '20000.00', bankReference: rejected });
      await eventually(async () => (await status(rejected)).stepsDone.includes('screen'));
      await client.rejectDeposit(rejected, { reviewer: 'replay-reviewer', reason: 'no documents' });
      expect(await failureType(handle(rejected).result())).toBe('ComplianceRejected');
      await save('deposit-review-rejected', `deposit-${rejected}`);

      const timeout = ref('timeout');
      const timedOut = client.depositFiat({ ...base, amount: '20000.00', bankReference: timeout, reviewTimeoutSeconds: 1 });
      expect(await failureType(timedOut)).toBe('ComplianceRejected');
      await save('deposit-review-timeout', `deposit-${timeout}`);

      const denied = ref('denied');
      const deniedRun = client.depositFiat({ ...base, senderName: 'Mallory Sanctioned', amount: '5.00', bankReference: denied });
      expect(await failureType(deniedRun)).toBe('ComplianceRejected');
      await save('deposit-denied', `deposit-${denied}`);

      // A duplicate: a second workflow reusing the first one's bank reference.
      const input = await client.prepareDeposit({ ...base, amount: '10.00', bankReference: ordinary });
      const duplicate = await ctx.temporal.workflow.execute(depositFiat, {
        taskQueue: tq,
        workflowId: `deposit-duplicate-${ordinary}`,
        args: [input],
      });
      expect(duplicate.status).toBe('DUPLICATE');
      await save('deposit-duplicate', `deposit-duplicate-${ordinary}`);

      const invalid = ref('invalid');
      const invalidRun = ctx.temporal.workflow.execute('depositFiat', {
        taskQueue: tq,
        workflowId: `deposit-${invalid}`,
        args: [{ ...input, amount: '-1', bankReference: invalid }],
      });
      expect(await failureType(invalidRun)).toBe('ValidationError');
      await save('deposit-invalid', `deposit-${invalid}`);

      const cancelledInReview = ref('cancelInReview');
      await client.startDeposit({ ...base, amount: '20000.00', bankReference: cancelledInReview });
      await eventually(async () => (await status(cancelledInReview)).stepsDone.includes('screen'));
      await handle(cancelledInReview).cancel();
      expect(await failureType(handle(cancelledInReview).result())).toBe('CancelledFailure');
      expect(await status(cancelledInReview)).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
      await save('deposit-cancel-in-review', `deposit-${cancelledInReview}`);

      const afterCredit = ref('afterCredit');
      await client.startDeposit({ ...base, amount: '3.00', bankReference: afterCredit });
      await eventually(async () => notifyStarted);
      await handle(afterCredit).cancel();
      await eventually(async () => (await status(afterCredit)).cancelRequested);
      openNotify();
      expect((await handle(afterCredit).result()).status).toBe('CREDITED');
      expect(await status(afterCredit)).toMatchObject({ status: 'COMPLETED', pointOfNoReturn: 'credit' });
      await save('deposit-cancel-after-credit', `deposit-${afterCredit}`);
    },
    { extraActivities: { notifyDeposit: gatedNotify } },
  );

  // The credit commits but its replies are lost until the deadline: the saga reverses it.
  // Where the user spent the money first, the reversal waits in COMPENSATION_FAILED.
  const lostTq = ctx.taskQueue();
  const lostClient = ctx.client(lostTq);
  const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
  const spender = await openUserAccount(ctx.pool);
  const creditLost: typeof real.creditDeposit = async (i) => {
    const credited = await real.creditDeposit(i);
    if (i.idempotencyKey.includes('-spent-')) {
      await real.transfer({
        idempotencyKey: `${i.idempotencyKey}:spend`,
        debitAccountId: spender,
        creditAccountId: escrow,
        asset: 'USD',
        amount: '400',
      });
    }
    void credited;
    throw ApplicationFailure.create({ type: 'ConnectionLost', message: 'reply lost', nextRetryDelay: '200 milliseconds' });
  };
  await ctx.withWorker(
    lostTq,
    async () => {
      const start = async (reference: string, accountId: string) => {
        const input = await lostClient.prepareDeposit({ ...base, accountId, amount: '4.00', bankReference: reference });
        return ctx.temporal.workflow.start(depositFiat, {
          taskQueue: lostTq,
          workflowId: `deposit-${reference}`,
          args: [{ ...input, deadlineSeconds: 3 }],
        });
      };
      const reversed = ref('reversed');
      expect(await failureType((await start(reversed, account)).result())).toBe('DeadlineExceeded');
      expect(await status(reversed)).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
      await save('deposit-credit-reversed', `deposit-${reversed}`);

      const spent = ref('spent');
      const running = await start(spent, spender);
      await eventually(async () => (await status(spent)).status === 'COMPENSATION_FAILED', 60_000);
      // An operator puts the money back, then asks the saga to try again.
      await real.transfer({
        idempotencyKey: `${spent}:refund`,
        debitAccountId: escrow,
        creditAccountId: spender,
        asset: 'USD',
        amount: '400',
      });
      await running.signal(retryCompensationSignal);
      expect(await failureType(running.result())).toBe('DeadlineExceeded');
      expect(await status(spent)).toMatchObject({ status: 'COMPENSATED', compensationsRun: ['rejectDepositRecord'] });
      expect((await balances(ctx.pool, spender)).balance).toBe(0n);
      await save('deposit-compensation-failed', `deposit-${spent}`);
    },
    { extraActivities: { creditDeposit: creditLost } },
  );
});
