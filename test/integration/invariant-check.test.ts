import { randomUUID } from 'node:crypto';
import { Client as PgClient } from 'pg';
import { checkInvariants, runInvariantChecks } from '../../src/db/invariants';
import { eventually, useTestContext } from '../helpers/context';
import { houseAccount, openUserAccount } from '../helpers/fixtures';
import { stackEnv, txmgr } from './cli-process';

/** `txmgr check` and checkInvariants: every violation made on purpose, by direct SQL, is reported with its ids. */
const ctx = useTestContext();
const ref = () => `CHK-${randomUUID().slice(0, 12)}`;

async function creditedDeposit(): Promise<{ account: string; reference: string; transferId: string }> {
  const tq = ctx.taskQueue();
  const account = await openUserAccount(ctx.pool);
  const reference = ref();
  const result = await ctx.withWorker(tq, () =>
    ctx
      .client(tq)
      .depositFiat({ accountId: account, asset: 'USD', amount: '25.00', bankReference: reference, senderName: 'Ann' }),
  );
  return { account, reference, transferId: result.transferId as string };
}

/** Inserts an open hold and moves its amount into the pending columns, as placeHold does. */
async function openHold(debit: string, credit: string, amount: bigint, workflowId: string | null): Promise<string> {
  const id = randomUUID();
  await ctx.pool.query(
    `WITH h AS (INSERT INTO holds (id, debit_account_id, credit_account_id, asset, amount, workflow_id, step)
                VALUES ($1, $2, $3, 'USD', $4, $5, 'test') RETURNING 1),
          d AS (UPDATE accounts SET debits_pending = debits_pending + $4 WHERE id = $2 RETURNING 1)
     UPDATE accounts SET credits_pending = credits_pending + $4 WHERE id = $3`,
    [id, debit, credit, amount.toString(), workflowId],
  );
  return id;
}

async function dropHold(id: string): Promise<void> {
  await ctx.pool.query(
    `WITH h AS (DELETE FROM holds WHERE id = $1 RETURNING debit_account_id, credit_account_id, amount),
          d AS (UPDATE accounts a SET debits_pending = debits_pending - h.amount FROM h WHERE a.id = h.debit_account_id RETURNING 1)
     UPDATE accounts a SET credits_pending = credits_pending - h.amount FROM h WHERE a.id = h.credit_account_id`,
    [id],
  );
}

describe('txmgr check on a live database', () => {
  test('a clean database after a real deposit: no violation, exit 0 (Temporal asked about open holds)', async () => {
    await creditedDeposit();
    expect(await runInvariantChecks(ctx.pool, { temporal: ctx.temporal })).toEqual({ violations: [], skipped: [] });
    const run = await txmgr(['check'], stackEnv(ctx.databaseUrl, 'unused'));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^all invariants hold on 127\.0\.0\.1:\d+\/t_invariant_check_/);
  });

  test('a cached balance that differs from its transfers: the account and both amounts, exit 1', async () => {
    const { account } = await creditedDeposit();
    await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted + 150 WHERE id = $1', [account]);
    try {
      expect(await checkInvariants(ctx.pool)).toEqual([
        'asset USD: posted credits − debits = 1.50 USD, expected 0',
        `account ${account}: credits_posted is 26.50 USD but its transfers sum to 25.00 USD`,
      ]);
      const run = await txmgr(['check'], { DATABASE_URL: ctx.databaseUrl });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        `violation  account ${account}: credits_posted is 26.50 USD but its transfers sum to 25.00 USD`,
      );
      expect(run.stderr).toContain('skipped: every open hold belongs to a running saga (needs Temporal: set TEMPORAL_ADDRESS)');
      expect(run.stderr).toContain('InvariantViolation: 2 invariant violations on 127.0.0.1:');
      const json = await txmgr(['--json', 'check'], { DATABASE_URL: ctx.databaseUrl });
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, violations: expect.arrayContaining([expect.any(String)]) });
    } finally {
      await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted - 150 WHERE id = $1', [account]);
    }
  });

  test('pending columns that no open hold explains, and an overdrawn account', async () => {
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const fees = await houseAccount(ctx.pool, 'USD', 'fees');
    await ctx.pool.query('UPDATE accounts SET debits_pending = debits_pending + 7 WHERE id = $1', [escrow]);
    await ctx.pool.query('UPDATE accounts SET credits_pending = credits_pending + 7 WHERE id = $1', [fees]);
    const user = await openUserAccount(ctx.pool);
    await ctx.pool.query('ALTER TABLE accounts DROP CONSTRAINT accounts_debits_within_credits');
    await ctx.pool.query('UPDATE accounts SET debits_posted = 300 WHERE id = $1', [user]);
    try {
      const violations = await checkInvariants(ctx.pool);
      expect(violations).toEqual(
        expect.arrayContaining([
          `account ${escrow}: debits_pending is 0.07 USD but its open holds sum to 0.00 USD`,
          `account ${fees}: credits_pending is 0.07 USD but its open holds sum to 0.00 USD`,
          `account ${user} is overdrawn: debits (posted + pending) 3.00 USD exceed credits 0.00 USD`,
          `account ${user}: debits_posted is 3.00 USD but its transfers sum to 0.00 USD`,
        ]),
      );
    } finally {
      await ctx.pool.query('UPDATE accounts SET debits_pending = debits_pending - 7 WHERE id = $1', [escrow]);
      await ctx.pool.query('UPDATE accounts SET credits_pending = credits_pending - 7 WHERE id = $1', [fees]);
      await ctx.pool.query('UPDATE accounts SET debits_posted = 0 WHERE id = $1', [user]);
      await ctx.pool.query(
        `ALTER TABLE accounts ADD CONSTRAINT accounts_debits_within_credits
           CHECK (NOT debits_must_not_exceed_credits OR debits_pending + debits_posted <= credits_posted)`,
      );
    }
  });

  test('a hold in an unknown status, captured beyond its amount, or whose captures disagree with it', async () => {
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const fees = await houseAccount(ctx.pool, 'USD', 'fees');
    const { rows } = await ctx.pool.query<{ conname: string }>(
      `SELECT conname FROM pg_constraint WHERE conrelid = 'holds'::regclass AND contype = 'c'`,
    );
    const saved = await ctx.pool.query<{ conname: string; def: string }>(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'holds'::regclass AND contype = 'c'`,
    );
    for (const r of rows) await ctx.pool.query(`ALTER TABLE holds DROP CONSTRAINT ${r.conname}`);
    const [lost, over, disagree] = [randomUUID(), randomUUID(), randomUUID()];
    const captureOver = randomUUID();
    try {
      await ctx.pool.query(
        `INSERT INTO holds (id, debit_account_id, credit_account_id, asset, amount, captured, released, status, workflow_id, closed_at) VALUES
           ($1, $4, $5, 'USD', 100, 0, 100, 'lost', 'saga-lost', now()),
           ($2, $4, $5, 'USD', 100, 150, 0, 'captured', 'saga-over', now()),
           ($3, $4, $5, 'USD', 100, 100, 0, 'captured', NULL, now())`,
        [lost, over, disagree, escrow, fees],
      );
      // The over-captured hold's capture transfer, posted as captureHold would.
      await ctx.pool.query(
        `INSERT INTO transfers (id, debit_account_id, credit_account_id, asset, amount, hold_id, step) VALUES ($1, $2, $3, 'USD', 150, $4, 'test')`,
        [captureOver, escrow, fees, over],
      );
      await ctx.pool.query('UPDATE accounts SET debits_posted = debits_posted + 150 WHERE id = $1', [escrow]);
      await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted + 150 WHERE id = $1', [fees]);
      expect(await checkInvariants(ctx.pool)).toEqual(
        [
          `hold ${lost} (saga saga-lost) has status "lost", expected open, captured or released`,
          `hold ${over} (saga saga-over): captured 1.50 USD + released 0.00 USD exceed its amount 1.00 USD`,
          `hold ${over} (saga saga-over): its capture transfers sum to 1.50 USD, beyond its amount 1.00 USD`,
          `hold ${disagree}: captured says 1.00 USD but its capture transfers sum to 0.00 USD`,
        ].sort((a, b) => (a.slice(5, 41) < b.slice(5, 41) ? -1 : a.slice(5, 41) > b.slice(5, 41) ? 1 : 0)),
      );
    } finally {
      await ctx.pool.query('DELETE FROM transfers WHERE id = $1', [captureOver]);
      await ctx.pool.query('UPDATE accounts SET debits_posted = debits_posted - 150 WHERE id = $1', [escrow]);
      await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted - 150 WHERE id = $1', [fees]);
      await ctx.pool.query('DELETE FROM holds WHERE id = ANY($1)', [[lost, over, disagree]]);
      for (const r of saved.rows) await ctx.pool.query(`ALTER TABLE holds ADD CONSTRAINT ${r.conname} ${r.def}`);
    }
  });

  test('an open hold of a finished or unknown saga is a violation; one of a running saga is not', async () => {
    const tq = ctx.taskQueue();
    const user = await openUserAccount(ctx.pool);
    const escrow = await houseAccount(ctx.pool, 'USD', 'escrow');
    const { reference: finished } = await creditedDeposit();
    const reviewed = ref();
    const client = ctx.client(tq);
    await ctx.withWorker(tq, async () => {
      // A deposit waiting for review is a running saga to own a hold.
      await client.startDeposit({ accountId: user, asset: 'USD', amount: '20000.00', bankReference: reviewed, senderName: 'B' });
      await eventually(async () => (await client.sagaStatus(`deposit-${reviewed}`)).stepsDone.includes('screen'));
      const running = await openHold(escrow, user, 100n, `deposit-${reviewed}`);
      const ofFinished = await openHold(escrow, user, 200n, `deposit-${finished}`);
      const ofNobody = await openHold(escrow, user, 300n, null);
      try {
        const report = await runInvariantChecks(ctx.pool, { temporal: ctx.temporal });
        expect(report.violations.sort()).toEqual(
          [
            `hold ${ofFinished} (2.00 USD open) is open but its saga deposit-${finished} is COMPLETED`,
            `hold ${ofNobody} (3.00 USD open) belongs to no saga`,
          ].sort(),
        );
        // Without Temporal the ownership check cannot run, and says so.
        expect(await runInvariantChecks(ctx.pool)).toEqual({
          violations: [],
          skipped: ['every open hold belongs to a running saga (needs Temporal: set TEMPORAL_ADDRESS)'],
        });
        const run = await txmgr(['check'], stackEnv(ctx.databaseUrl, tq));
        expect(run.code).toBe(1);
        expect(run.stdout).toContain(`hold ${ofNobody} (3.00 USD open) belongs to no saga`);
        // Holds made here by direct SQL also have no change-log entry, which check reports as well.
        expect(run.stdout).toContain(`hold ${running} has no change-log entry`);
        expect(run.stdout.split('\n').filter((l) => l.includes(running) && !l.includes('no change-log entry'))).toEqual([]);
      } finally {
        for (const id of [running, ofFinished, ofNobody]) await dropHold(id);
        await client.rejectDeposit(reviewed, { reviewer: 'olga' });
        await expect(ctx.temporal.workflow.getHandle(`deposit-${reviewed}`).result()).rejects.toThrow(
          'Workflow execution failed',
        );
      }
    });
  });

  test('a deposit credited twice for one bank reference', async () => {
    const { account, reference } = await creditedDeposit();
    const bank = await houseAccount(ctx.pool, 'USD', 'external_bank');
    const extra = randomUUID();
    await ctx.pool.query(
      `INSERT INTO transfers (id, debit_account_id, credit_account_id, asset, amount, step) VALUES ($1, $2, $3, 'USD', 2500, $4)`,
      [extra, bank, account, `deposit-credit:${reference}`],
    );
    await ctx.pool.query('UPDATE accounts SET debits_posted = debits_posted + 2500 WHERE id = $1', [bank]);
    await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted + 2500 WHERE id = $1', [account]);
    try {
      const { rows } = await ctx.pool.query<{ id: string }>('SELECT id FROM deposits WHERE bank_reference = $1', [reference]);
      expect(await checkInvariants(ctx.pool)).toEqual([
        `deposit ${rows[0]?.id} (${reference}, CREDITED) has 2 standing credits, expected 1`,
      ]);
    } finally {
      await ctx.pool.query('DELETE FROM transfers WHERE id = $1', [extra]);
      await ctx.pool.query('UPDATE accounts SET debits_posted = debits_posted - 2500 WHERE id = $1', [bank]);
      await ctx.pool.query('UPDATE accounts SET credits_posted = credits_posted - 2500 WHERE id = $1', [account]);
    }
  });

  test('a prepared transaction older than its timeout; extra checks of other areas are composed in', async () => {
    const pg = new PgClient({ connectionString: ctx.databaseUrl });
    await pg.connect();
    const gid = `txmgr-check-${randomUUID()}`;
    try {
      await pg.query('BEGIN');
      await pg.query(`INSERT INTO hold_tombstones (id) VALUES ($1)`, [randomUUID()]);
      await pg.query(`PREPARE TRANSACTION '${gid}'`);
      await new Promise((r) => setTimeout(r, 1_200));
      expect(await checkInvariants(ctx.pool)).toEqual([]);
      const stale = await checkInvariants(ctx.pool, { preparedTimeoutMs: 1_000 });
      expect(stale).toHaveLength(1);
      expect(stale[0]).toMatch(
        new RegExp(`^prepared transaction "${gid}" in database ${ctx.databaseName} is \\d+ s old, beyond its 1 s timeout$`),
      );
      const run = await txmgr(['check', '--prepared-timeout', '1'], { DATABASE_URL: ctx.databaseUrl });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`prepared transaction "${gid}"`);
      const extra = await checkInvariants(ctx.pool, { extraChecks: [async () => ['trade: order o-1 overfilled']] });
      expect(extra).toEqual(['trade: order o-1 overfilled']);
    } finally {
      await pg.query(`ROLLBACK PREPARED '${gid}'`).catch(() => undefined);
      await pg.end();
    }
  });
});
