import { randomBytes, randomUUID } from 'node:crypto';
import { Client as PgClient, type Pool } from 'pg';
import { TxmgrClient } from '../../src/client';
import { applyConfig, shutdownSiphon } from '../../src/client/config';
import { normaliseName } from '../../src/db/queries/compliance';
import { createPool } from '../../src/db/pool';
import { eventually, useTestContext } from '../helpers/context';
import { siphonTarget } from './siphon-fixtures';
import { stackEnv, startWorkerProcess } from './cli-process';
import { openUserAccount } from '../helpers/fixtures';

/**
 * Least privilege (the application's role reads and writes rows, never the schema) and
 * SQL-injection strings in every text field: stored as given, never executed; and logs
 * that carry no secrets or personal data.
 */
const ctx = useTestContext();
const uid = () => randomBytes(4).toString('hex');

const INJECTIONS = [
  "Robert'); DROP TABLE accounts; --",
  "' OR '1'='1' --",
  '"; DELETE FROM deposits; --',
  "x'||(SELECT pg_sleep(5))||'",
  '$1 $2; TRUNCATE transfers CASCADE',
  "\\'; UPDATE accounts SET credits_posted = 10^30; --",
];

async function tablesStillThere(pool: Pool): Promise<void> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT COUNT(*)::text AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name = ANY($1)`,
    [['accounts', 'deposits', 'transfers', 'holds']],
  );
  expect(rows[0]?.n).toBe('4');
}

describe('least privilege: the txmgr_app role', () => {
  const role = `t_app_${uid()}`;
  let appUrl: string;
  let appPool: Pool;

  beforeAll(async () => {
    await ctx.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD 'app-secret' IN ROLE txmgr_app`);
    const url = new URL(ctx.databaseUrl);
    url.username = role;
    url.password = 'app-secret';
    appUrl = url.toString();
    appPool = createPool({ databaseUrl: appUrl, max: 8 });
  });

  afterAll(async () => {
    await appPool?.end();
    await ctx.pool.query(`DROP ROLE IF EXISTS ${role}`);
  });

  test('a worker and client connected as the role run a deposit through review to CREDITED', async () => {
    const tq = ctx.taskQueue();
    const client = new TxmgrClient(ctx.temporal, appPool, tq);
    const reference = `LP-${uid()}`;
    await ctx.withWorker(
      tq,
      async () => {
        const account = await client.openAccount({ owner: 'least privilege', asset: 'USD' });
        await client.startDeposit({
          accountId: account.accountId,
          asset: 'USD',
          amount: '20000.00',
          bankReference: reference,
          senderName: 'Ann',
        });
        await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
        await client.approveDeposit(reference, { reviewer: 'olga' });
        const result = await ctx.temporal.workflow.getHandle(`deposit-${reference}`).result();
        expect(result).toMatchObject({ status: 'CREDITED', amount: '2000000' });
        expect((await client.getBalance(account.accountId)).balanceDisplay).toBe('20000.00');
      },
      { pool: appPool },
    );
    const who = await appPool.query<{ u: string }>('SELECT current_user AS u');
    expect(who.rows[0]?.u).toBe(role);
  });

  test('the role is refused every schema change, truncation and deletion of money rows', async () => {
    const pg = new PgClient({ connectionString: appUrl });
    await pg.connect();
    try {
      for (const ddl of [
        'CREATE TABLE stolen (id int)',
        'DROP TABLE transfers',
        'ALTER TABLE accounts DROP CONSTRAINT accounts_debits_within_credits',
        'TRUNCATE transfers',
        'DELETE FROM transfers',
        'DELETE FROM accounts',
        'CREATE ROLE intruder',
        'ALTER ROLE txmgr_app SUPERUSER',
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
      ]) {
        const err = await pg.query(ddl).then(
          () => undefined,
          (e: { code?: string }) => e,
        );
        expect({ ddl, code: err?.code }).toEqual({ ddl, code: '42501' });
      }
    } finally {
      await pg.end();
    }
    await tablesStillThere(ctx.pool);
  });
});

describe('SQL-injection strings in every text field', () => {
  test('account owner, sender name, review reason and config payload strings are stored verbatim, never executed', async () => {
    const tq = ctx.taskQueue();
    const client = ctx.client(tq);
    const target = siphonTarget(ctx.temporal, tq);
    await ctx.withWorker(tq, async () => {
      for (const text of INJECTIONS) {
        const account = await client.openAccount({ owner: text, asset: 'USD' });
        const reference = `INJ-${uid()}`;
        await client.startDeposit({
          accountId: account.accountId,
          asset: 'USD',
          amount: '20000.00',
          bankReference: reference,
          senderName: text,
        });
        await eventually(async () => (await client.sagaStatus(`deposit-${reference}`)).stepsDone.includes('screen'));
        await client.rejectDeposit(reference, { reviewer: text, reason: text });
        await ctx.temporal.workflow
          .getHandle(`deposit-${reference}`)
          .result()
          .catch(() => undefined);
        const { rows } = await ctx.pool.query<{ owner: string; sender_name: string; reason: string; status: string }>(
          `SELECT a.owner, d.sender_name, d.reason, d.status FROM deposits d JOIN accounts a ON a.id = d.account_id
           WHERE d.bank_reference = $1`,
          [reference],
        );
        expect(rows).toEqual([{ owner: text, sender_name: text, reason: expect.stringContaining(text), status: 'REJECTED' }]);
      }
      // A bank reference carrying SQL is refused outright (its alphabet is letters, digits and . _ : / -).
      const refused = await client
        .startDeposit({ accountId: randomUUID(), asset: 'USD', amount: '1.00', bankReference: INJECTIONS[0]!, senderName: 'A' })
        .catch((e: unknown) => e);
      expect(refused).toMatchObject({ type: 'ValidationError', details: { field: 'bankReference' } });

      const id = `inj-${uid()}`;
      const outcome = await applyConfig(target, {
        id,
        kind: 'compliance.denyList',
        payload: { add: INJECTIONS.map((text) => ({ name: text, reason: text })) },
      });
      expect(outcome).toMatchObject({ status: 'applied' });
      const { rows: denied } = await ctx.pool.query<{ name: string; reason: string }>(
        'SELECT name, reason FROM compliance_deny_list WHERE name = ANY($1) ORDER BY name',
        [INJECTIONS.map(normaliseName)],
      );
      expect(denied).toEqual(
        INJECTIONS.map((text) => ({ name: normaliseName(text), reason: text })).sort((a, b) => (a.name < b.name ? -1 : 1)),
      );
      const { rows: stored } = await ctx.pool.query<{ payload: { add: Array<{ name: string }> } }>(
        'SELECT payload FROM config_transactions WHERE id = $1',
        [id],
      );
      expect(stored[0]?.payload.add.map((e) => e.name)).toEqual(INJECTIONS);
      await shutdownSiphon(target);
    });
    await tablesStillThere(ctx.pool);
    const { rows } = await ctx.pool.query<{ n: string }>(`SELECT COUNT(*)::text AS n FROM accounts WHERE kind = 'house'`);
    expect(Number(rows[0]?.n)).toBeGreaterThan(0);
  });
});

/** The worker's own log output (a process, debug level) carries no names of senders, reviewers or owners. */
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
