import { randomBytes } from 'node:crypto';
import { eventually, useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';
import { stackEnv, startWorkerProcess } from './cli-process';

/** The worker's own log output (a process, debug level) carries no names of senders, reviewers or owners. */
const ctx = useTestContext();
const uid = () => randomBytes(4).toString('hex');

describe('worker log redaction', () => {
  test('deposits credited and rejected by a reviewer leave no personal name in the worker log', async () => {
    const tq = ctx.taskQueue();
    const worker = await startWorkerProcess({ ...stackEnv(ctx.databaseUrl, tq), LOG_LEVEL: 'debug' });
    const sender = `Zelda Quixote ${uid()}`;
    const reviewer = `Yannick Reviewer ${uid()}`;
    const owner = `Olive Owner ${uid()}`;
    const client = ctx.client(tq);
    try {
      const opened = await client.openAccount({ owner, asset: 'USD' });
      const account = await openUserAccount(ctx.pool);
      const credited = await client.depositFiat({
        accountId: opened.accountId,
        asset: 'USD',
        amount: '12.00',
        bankReference: `LOG-${uid()}`,
        senderName: sender,
      });
      expect(credited.status).toBe('CREDITED');
      const reviewed = `LOG-${uid()}`;
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: reviewed,
        senderName: sender,
      });
      await eventually(async () => (await client.sagaStatus(`deposit-${reviewed}`)).stepsDone.includes('screen'));
      await client.rejectDeposit(reviewed, { reviewer, reason: `documents of ${sender} missing` });
      await ctx.temporal.workflow
        .getHandle(`deposit-${reviewed}`)
        .result()
        .catch(() => undefined);
    } finally {
      await worker.stop();
    }
    const log = worker.log();
    expect(log).toContain('"msg":"worker started"');
    expect(log).toContain('"level":20'); // debug lines were written, so the check below means something
    for (const name of [sender, reviewer, owner]) expect(log).not.toContain(name);
  });
});
