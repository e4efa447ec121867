import { randomUUID } from 'node:crypto';
import { houseAccount, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

// Rows no code path may write, refused by PostgreSQL itself (migration ledger_constraints).
const ctx = useTestContext();

/** The SQLSTATE and constraint of the error `sql` raises; fails the test if it succeeds. */
async function refusal(sql: string, params: unknown[]): Promise<{ code: string; constraint: string }> {
  const err = (await ctx.pool.query(sql, params).then(
    () => ({ code: 'none', constraint: 'accepted' }),
    (e: unknown) => e,
  )) as { code: string; constraint: string };
  return { code: err.code, constraint: err.constraint };
}

const insertTransfer = `INSERT INTO transfers (id, debit_account_id, credit_account_id, asset, amount, hold_id)
  VALUES ($1, $2, $3, $4, $5, $6)`;
const insertHold = `INSERT INTO holds (id, debit_account_id, credit_account_id, asset, amount, captured, released, status, closed_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
const insertDeposit = `INSERT INTO deposits (id, bank_reference, account_id, asset, amount, sender_name, status, workflow_id, transfer_id)
  VALUES ($1, $2, $3, $4, $5, 'Sender', $6, 'wf', $7)`;

async function setup() {
  const usd = await openUserAccount(ctx.pool, 'USD');
  const eur = await openUserAccount(ctx.pool, 'EUR');
  const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
  const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
  return { usd, eur, bank, escrow };
}

describe('the database refuses', () => {
  test('a transfer, hold or deposit in another asset than its accounts', async () => {
    const { usd, bank } = await setup();
    // Both accounts hold USD; the rows claim EUR.
    expect(await refusal(insertTransfer, [randomUUID(), bank, usd, 'EUR', '10', null])).toEqual({
      code: '23503',
      constraint: 'transfers_debit_account_asset_fkey',
    });
    expect(await refusal(insertHold, [randomUUID(), usd, bank, 'EUR', '10', '0', '0', 'open', null])).toMatchObject({
      code: '23503',
      constraint: 'holds_debit_account_asset_fkey',
    });
    expect(await refusal(insertDeposit, [randomUUID(), `R-${randomUUID()}`, usd, 'EUR', '10', 'RECORDED', null])).toEqual({
      code: '23503',
      constraint: 'deposits_account_asset_fkey',
    });
  });

  test('a capture between other accounts than its hold', async () => {
    const { usd, bank, escrow } = await setup();
    await ctx.pool.query(`UPDATE accounts SET credits_posted = 100 WHERE id = $1`, [usd]);
    const hold = randomUUID();
    await ctx.pool.query(insertHold, [hold, usd, escrow, 'USD', '10', '0', '0', 'open', null]);
    expect(await refusal(insertTransfer, [randomUUID(), usd, bank, 'USD', '5', hold])).toEqual({
      code: '23503',
      constraint: 'transfers_capture_matches_hold_fkey',
    });
    await ctx.pool.query(`DELETE FROM holds WHERE id = $1`, [hold]);
    await ctx.pool.query(`UPDATE accounts SET credits_posted = 0 WHERE id = $1`, [usd]);
  });

  test('one transfer crediting two deposits, or a deposit "credited" by a transfer that is not its credit', async () => {
    const { usd, bank } = await setup();
    const other = await openUserAccount(ctx.pool, 'USD');
    const credit = randomUUID();
    const elsewhere = randomUUID();
    await ctx.pool.query(insertTransfer, [credit, bank, usd, 'USD', '10', null]);
    await ctx.pool.query(insertTransfer, [elsewhere, bank, other, 'USD', '10', null]);
    await ctx.pool.query(insertDeposit, [randomUUID(), `R-${randomUUID()}`, usd, 'USD', '10', 'CREDITED', credit]);
    expect(await refusal(insertDeposit, [randomUUID(), `R-${randomUUID()}`, usd, 'USD', '10', 'CREDITED', credit])).toEqual({
      code: '23505',
      constraint: 'deposits_transfer_id_key',
    });
    // A transfer to another account, or of another amount, is not this deposit's credit.
    const fresh = randomUUID();
    await ctx.pool.query(insertTransfer, [fresh, bank, usd, 'USD', '10', null]);
    for (const [transfer, amount] of [
      [elsewhere, '10'],
      [fresh, '11'],
    ]) {
      expect(await refusal(insertDeposit, [randomUUID(), `R-${randomUUID()}`, usd, 'USD', amount, 'CREDITED', transfer])).toEqual(
        { code: '23503', constraint: 'deposits_credit_transfer_fkey' },
      );
    }
    // Undo the money moved by hand so the books still balance for the invariant check.
    await ctx.pool.query(`DELETE FROM deposits WHERE transfer_id = $1`, [credit]);
    await ctx.pool.query(`DELETE FROM transfers WHERE id = ANY($1::uuid[])`, [[credit, elsewhere, fresh]]);
  });

  test.each<[string, string[], string]>([
    ['captured while something was released', ['10', '8', '2', 'captured'], 'holds_captured_status'],
    ['captured before all of it was', ['10', '8', '0', 'captured'], 'holds_'],
    ['released with nothing released', ['10', '10', '0', 'released'], 'holds_released_status'],
    ['closed without a closing time', ['10', '10', '0', 'captured', 'no-closed-at'], 'holds_closed_at_status'],
    ['open with a closing time', ['10', '0', '0', 'open', 'closed-at'], 'holds_closed_at_status'],
  ])('a hold %s', async (_name, [amount, captured, released, status, closing], constraint) => {
    const { usd, escrow } = await setup();
    const closedAt = closing === 'no-closed-at' ? null : status !== 'open' || closing === 'closed-at' ? new Date() : null;
    const err = await refusal(insertHold, [randomUUID(), usd, escrow, 'USD', amount, captured, released, status, closedAt]);
    expect(err.code).toBe('23514');
    expect(err.constraint).toContain(constraint);
  });
});
