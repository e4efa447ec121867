import { randomUUID } from 'node:crypto';
import { DomainError } from '../../src/domain/errors';
import { eventually, useTestContext } from '../helpers/context';
import { openUserAccount } from '../helpers/fixtures';

/** A decision sent to a deposit that is finished (or never was) is answered in words, not WorkflowNotFoundError. */
const ctx = useTestContext();
const ref = () => `MSG-${randomUUID().slice(0, 12)}`;

async function errorOf(p: Promise<unknown>): Promise<DomainError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  return err as DomainError;
}

describe('review decisions for finished deposits', () => {
  test('approve or reject a CREDITED or REJECTED deposit: "already <status>"; an unknown reference: NotFound', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const account = await openUserAccount(ctx.pool);
    const [credited, rejected] = [ref(), ref()];
    await ctx.withWorker(tq, async () => {
      await client.depositFiat({ accountId: account, asset: 'USD', amount: '10.00', bankReference: credited, senderName: 'A' });
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: rejected,
        senderName: 'B',
      });
      await eventually(async () => (await client.sagaStatus(`deposit-${rejected}`)).stepsDone.includes('screen'));
      await client.rejectDeposit(rejected, { reviewer: 'olga', reason: 'no documents' });
      await ctx.temporal.workflow
        .getHandle(`deposit-${rejected}`)
        .result()
        .catch(() => undefined);
    });
    const late = await errorOf(client.approveDeposit(credited, { reviewer: 'olga' }));
    expect(late).toMatchObject({ type: 'InvalidState', message: `deposit ${credited} already CREDITED; nothing left to decide` });
    const again = await errorOf(client.rejectDeposit(` ${rejected} `, { reviewer: 'olga' }));
    expect(again.type).toBe('InvalidState');
    expect(again.message).toMatch(
      new RegExp(`^deposit ${rejected} already REJECTED \\(.*no documents.*\\); nothing left to decide$`),
    );
    const unknown = await errorOf(client.approveDeposit('NEVER-SEEN', { reviewer: 'olga' }));
    expect(unknown).toMatchObject({ type: 'NotFound', message: 'no deposit with bank reference NEVER-SEEN' });
    expect((await ctx.pool.query('SELECT 1 FROM deposits WHERE bank_reference = $1', ['NEVER-SEEN'])).rowCount).toBe(0);
  });
});
