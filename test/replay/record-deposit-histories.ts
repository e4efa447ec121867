/**
 * Records the deposit saga's histories for the replay tests. Not a test: run it
 * with `npm run record-histories` after a deliberate, versioned workflow change.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { eventually, useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';

const ctx = useTestContext();
const OUT = path.join(__dirname, 'histories');

async function save(name: string, workflowId: string): Promise<void> {
  const history = await ctx.temporal.workflow.getHandle(workflowId).fetchHistory();
  fs.writeFileSync(path.join(OUT, `${name}.json`), historyToJSON(history));
}

test('record deposit histories', async () => {
  await ctx.pool.query(`INSERT INTO compliance_deny_list (name, reason) VALUES ('mallory sanctioned', 'replay fixture')`);
  const tq = ctx.taskQueue();
  const client = ctx.client(tq);
  const account = await openUserAccount(ctx.pool);
  const ref = (n: string) => `REPLAY-${n}-${randomUUID().slice(0, 8)}`;
  const base = { accountId: account, asset: 'USD', senderName: 'Replay Sender' };
  await ctx.withWorker(tq, async () => {
    const ordinary = ref('ordinary');
    await client.depositFiat({ ...base, amount: '10.00', bankReference: ordinary });
    await save('deposit-ordinary', `deposit-${ordinary}`);

    const approved = ref('approved');
    await client.startDeposit({ ...base, amount: '20000.00', bankReference: approved });
    await eventually(async () => (await client.sagaStatus(`deposit-${approved}`)).stepsDone.includes('screen'));
    await client.approveDeposit(approved, { reviewer: 'replay-reviewer' });
    await ctx.temporal.workflow.getHandle(`deposit-${approved}`).result();
    await save('deposit-review-approved', `deposit-${approved}`);

    const rejected = ref('rejected');
    await client.startDeposit({ ...base, amount: '20000.00', bankReference: rejected });
    await eventually(async () => (await client.sagaStatus(`deposit-${rejected}`)).stepsDone.includes('screen'));
    await client.rejectDeposit(rejected, { reviewer: 'replay-reviewer', reason: 'no documents' });
    await ctx.temporal.workflow
      .getHandle(`deposit-${rejected}`)
      .result()
      .catch(() => undefined);
    await save('deposit-review-rejected', `deposit-${rejected}`);

    const timeout = ref('timeout');
    await client
      .depositFiat({ ...base, amount: '20000.00', bankReference: timeout, reviewTimeoutSeconds: 1 })
      .catch(() => undefined);
    await save('deposit-review-timeout', `deposit-${timeout}`);

    const denied = ref('denied');
    await client
      .depositFiat({ ...base, senderName: 'Mallory Sanctioned', amount: '5.00', bankReference: denied })
      .catch(() => undefined);
    await save('deposit-denied', `deposit-${denied}`);

    // A duplicate: a second workflow reusing the first one's bank reference.
    const input = await client.prepareDeposit({ ...base, amount: '10.00', bankReference: ordinary });
    await ctx.temporal.workflow.execute('depositFiat', {
      taskQueue: tq,
      workflowId: `deposit-duplicate-${ordinary}`,
      args: [input],
    });
    await save('deposit-duplicate', `deposit-duplicate-${ordinary}`);

    const invalid = ref('invalid');
    await ctx.temporal.workflow
      .execute('depositFiat', {
        taskQueue: tq,
        workflowId: `deposit-${invalid}`,
        args: [{ ...input, amount: '-1', bankReference: invalid }],
      })
      .catch(() => undefined);
    await save('deposit-invalid', `deposit-${invalid}`);
  });
});
