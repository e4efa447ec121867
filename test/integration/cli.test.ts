import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { applyConfigList, exampleConfigTransactions } from '../../src/client/config';
import { Client as PgClient } from 'pg';
import { dropDatabase, ensureDatabase } from '../../src/db/admin';
import { eventually, useTestContext } from '../helpers/context';
import { spawnTxmgr, stackEnv, startWorkerProcess, txmgr } from './cli-process';

/** The txmgr CLI as a process against the test stack: outputs and exit codes. */
const ctx = useTestContext();
const uid = () => randomBytes(4).toString('hex');

describe('help, version and environment', () => {
  test('--help names the variables and exit codes; help <command> <subcommand> shows that command; --version', async () => {
    const help = await txmgr(['--help']);
    expect(help.code).toBe(0);
    for (const name of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'DATABASE_URL',
      '3  a service is unreachable',
    ]) {
      expect(help.stdout).toContain(name);
    }
    const start = await txmgr(['help', 'deposit', 'start']);
    expect(start.code).toBe(0);
    expect(start.stdout).toContain('Usage: txmgr deposit start');
    expect(start.stdout).toMatch(/--amount <decimal> +amount as a human decimal, e\.g\. 250\.00 \(required\)/);
    const version = await txmgr(['--version']);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  test('missing or malformed variables and options are bad input (exit 2) saying what to do', async () => {
    const noAddress = await txmgr(['saga', 'X'], { DATABASE_URL: ctx.databaseUrl });
    expect(noAddress).toMatchObject({ code: 2, stdout: '' });
    expect(noAddress.stderr).toBe(
      'ConfigError: TEMPORAL_ADDRESS is not set — run npm run demo -- --keep and paste the export line it prints\n',
    );
    const noPort = await txmgr(['saga', 'X'], { TEMPORAL_ADDRESS: 'localhost' });
    expect(noPort.code).toBe(2);
    expect(noPort.stderr).toContain(
      'TEMPORAL_ADDRESS must be host:port (e.g. localhost:7233 or temporal.example.com:7233), without a scheme',
    );
    const limit = await txmgr(['config', 'history', '--limit', 'abc'], { DATABASE_URL: ctx.databaseUrl });
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit must be a positive whole number, got "abc"');
    const missing = await txmgr(['deposit', 'start', '--account', randomUUID()]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^UsageError: required option '--asset <asset>' not specified/);
    const badId = await txmgr(['balance', 'not-a-uuid'], { DATABASE_URL: ctx.databaseUrl });
    expect(badId.code).toBe(2);
    expect(badId.stderr).toBe('ValidationError: account id must be a UUID, got "not-a-uuid"\n');
  });
});

describe('unreachable and unprepared services', () => {
  test('an unreachable Temporal or PostgreSQL is exit 3 naming the address; a missing namespace is exit 2', async () => {
    const temporal = await txmgr(['saga', 'X'], { TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: ctx.databaseUrl });
    expect(temporal.code).toBe(3);
    expect(temporal.stderr).toBe(
      'Unreachable: cannot reach Temporal at 127.0.0.1:1 — start one with npm run demo -- --keep, or fix TEMPORAL_ADDRESS\n',
    );
    const db = await txmgr(['balance', randomUUID()], { DATABASE_URL: 'postgres://txmgr@127.0.0.1:1/txmgr' });
    expect(db.code).toBe(3);
    expect(db.stderr).toContain('Unreachable: cannot reach PostgreSQL at 127.0.0.1:1/txmgr');
    const namespace = await txmgr(['saga', 'X'], {
      ...stackEnv(ctx.databaseUrl, 'unused'),
      TEMPORAL_NAMESPACE: `no-such-namespace-${uid()}`,
    });
    expect(namespace.code).toBe(2);
    expect(namespace.stderr).toMatch(/^ConfigError: namespace no-such-namespace-\w+ does not exist on Temporal at /);
  });

  test("txmgr migrate with APP_DATABASE_URL gives that login the application's rights and no more; a bad one changes nothing", async () => {
    const adminUrl = process.env.TXMGR_TEST_ADMIN_URL as string;
    const name = `t_cli_app_${uid()}`;
    const url = await ensureDatabase(adminUrl, name);
    const role = `t_app_${uid()}`;
    const appUrl = Object.assign(new URL(url), { username: role, password: 'app-secret' }).toString();
    const admin = new PgClient({ connectionString: url });
    await admin.connect();
    try {
      const bad = await txmgr(['migrate'], { DATABASE_URL: url, APP_DATABASE_URL: 'mysql://x@y/z' });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/^ConfigError: .*DATABASE_URL must start with postgres:\/\//);
      expect((await admin.query(`SELECT 1 FROM pg_tables WHERE tablename = 'accounts'`)).rowCount).toBe(0);

      const run = await txmgr(['migrate'], { DATABASE_URL: url, APP_DATABASE_URL: appUrl });
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`the application's login ${role} is a member of txmgr_app`);
      const app = new PgClient({ connectionString: appUrl });
      await app.connect();
      try {
        expect((await app.query('SELECT count(*)::int AS n FROM accounts')).rows).toEqual([{ n: expect.any(Number) }]);
        await expect(app.query('CREATE TABLE stolen (id int)')).rejects.toMatchObject({ code: '42501' });
      } finally {
        await app.end();
      }
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.end();
      await dropDatabase(adminUrl, name);
      const cluster = new PgClient({ connectionString: adminUrl });
      await cluster.connect();
      await cluster.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await cluster.end();
    }
  });

  test('a database without the schema says to migrate; txmgr migrate applies it; balance then needs no Temporal', async () => {
    const adminUrl = process.env.TXMGR_TEST_ADMIN_URL as string;
    const name = `t_cli_empty_${uid()}`;
    const url = await ensureDatabase(adminUrl, name);
    const before = await txmgr(['balance', randomUUID()], { DATABASE_URL: url });
    expect(before.code).toBe(2);
    expect(before.stderr).toMatch(/^SchemaMissing: database .* does not have txmgr's current schema — run: txmgr migrate\n$/);
    const migrate = await txmgr(['migrate'], { DATABASE_URL: url });
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/^applied \d+ migrations: /);
    expect((await txmgr(['migrate'], { DATABASE_URL: url })).stdout).toBe('database schema is up to date\n');
    const id = randomUUID();
    const after = await txmgr(['balance', id], { DATABASE_URL: url });
    expect(after.code).toBe(2);
    expect(after.stderr).toBe(`NotFound: account ${id} does not exist\n`);
    // A schema migrated by a newer txmgr: refused, naming what this one does not know.
    const admin = new PgClient({ connectionString: url });
    await admin.connect();
    await admin.query(`INSERT INTO pgmigrations (name, run_on) VALUES ('29991231000000000_from_the_future', now())`);
    await admin.end();
    const newer = await txmgr(['deposit', 'list'], { DATABASE_URL: url });
    expect(newer.code).toBe(2);
    expect(newer.stderr).toMatch(
      /^SchemaNewer: database .* has migrations this txmgr does not know \(29991231000000000_from_the_future\)/,
    );
    await dropDatabase(adminUrl, name);
  });
});

describe('deposits from the CLI', () => {
  beforeAll(async () => {
    const tq = ctx.taskQueue();
    await ctx.withWorker(tq, () =>
      applyConfigList(
        { client: ctx.temporal, taskQueue: tq, workflowId: `config-siphon-cli-${uid()}` },
        exampleConfigTransactions(),
      ),
    );
  });

  test('human amounts, a review shown while waiting, approval printing the outcome, finished deposits in our words', async () => {
    const tq = ctx.taskQueue();
    const env = stackEnv(ctx.databaseUrl, tq);
    const account = randomUUID();
    const ref = `CLI-${uid()}`;
    const worker = await startWorkerProcess(env);
    try {
      const open = await txmgr(['account', 'open', '--id', account, '--owner', 'alice', '--asset', 'USD'], env);
      expect(open.code).toBe(0);
      expect(open.stdout).toMatch(/balance +0\.00 USD/);

      const small = await txmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '250.00',
          '--reference',
          `${ref}-1`,
          '--sender',
          'Alice A',
        ],
        env,
      );
      expect(small.code).toBe(0);
      expect(small.stdout).toBe(`deposit ${ref}-1 CREDITED: 250.00 USD to account ${account}\n`);
      expect(small.stderr).toContain(`follow it with: txmgr deposit status ${ref}-1`);

      const conflict = await txmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '9.99',
          '--reference',
          `${ref}-1`,
          '--sender',
          'Alice A',
        ],
        env,
      );
      expect(conflict.code).toBe(2);
      expect(conflict.stderr).toContain('250.00 USD');
      expect(conflict.stderr).not.toContain('25000 USD');

      const large = await txmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '25000.00',
          '--reference',
          `${ref}-2`,
          '--sender',
          'Alice A',
          '--no-wait',
        ],
        env,
      );
      expect(large.code).toBe(0);
      expect(large.stdout).toContain(`follow it with: txmgr deposit status ${ref}-2`);
      await eventually(async () => (await txmgr(['deposit', 'status', `${ref}-2`], env)).stdout.includes('IN_REVIEW'), 60_000);

      const status = await txmgr(['deposit', 'status', `${ref}-2`], env);
      expect(status.stdout).toContain(`waiting for compliance review — approve with: txmgr deposit approve ${ref}-2`);
      expect(status.stdout).toMatch(/amount +25000\.00 USD/);
      const list = await txmgr(['deposit', 'list', '--json'], env);
      const rows = JSON.parse(list.stdout) as Array<{ bankReference: string; status: string; amount: string }>;
      expect(rows[0]).toMatchObject({ bankReference: `${ref}-2`, status: 'IN_REVIEW', amount: '25000.00' });
      const saga = await txmgr(['saga', `${ref}-2`], env);
      expect(saga.code).toBe(0);
      expect(saga.stdout).toMatch(/status +RUNNING/);
      expect(saga.stdout).toContain('waiting for compliance review');

      // A waiting command shows the step it waits for, and --timeout ends the wait, not the saga.
      const waiting = await txmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '25000.00',
          '--reference',
          `${ref}-2`,
          '--sender',
          'Alice A',
          '--timeout',
          '2',
        ],
        env,
      );
      expect(waiting.code).toBe(1);
      expect(waiting.stderr).toContain(`waiting for compliance review — approve with: txmgr deposit approve ${ref}-2`);
      expect(waiting.stderr).toContain(
        `Timeout: saga deposit-${ref}-2 still running after 2s, waiting for compliance review — it goes on`,
      );
      expect(waiting.stderr).toContain(`it goes on; follow it with: txmgr deposit status ${ref}-2`);

      const approve = await txmgr(['deposit', 'approve', `${ref}-2`, '--reviewer', 'olga'], env);
      expect(approve.code).toBe(0);
      expect(approve.stdout).toBe(`deposit ${ref}-2 CREDITED: 25000.00 USD to account ${account} (approved by olga)\n`);

      const again = await txmgr(['deposit', 'approve', `${ref}-2`, '--reviewer', 'olga'], env);
      expect(again.code).toBe(1);
      expect(again.stderr).toBe(
        `InvalidState: deposit ${ref}-2 is already CREDITED (approved by olga) — nothing left to decide\n`,
      );
      const unknown = await txmgr(['deposit', 'approve', `${ref}-NOPE`, '--reviewer', 'olga'], env);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toBe(`NotFound: no deposit with bank reference ${ref}-NOPE — list them with: txmgr deposit list\n`);
      // Ctrl-C while waiting says that the saga goes on; a rejection then prints the outcome.
      const interrupted = spawnTxmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '30000.00',
          '--reference',
          `${ref}-4`,
          '--sender',
          'Alice A',
        ],
        env,
      );
      await interrupted.until(/waiting for compliance review/);
      interrupted.child.kill('SIGINT');
      const ended = await interrupted.done;
      expect(ended.code).toBe(130);
      expect(ended.stderr).toContain(
        `interrupted — the saga deposit-${ref}-4 goes on in Temporal; follow it with: txmgr deposit status ${ref}-4`,
      );
      const reject = await txmgr(['deposit', 'reject', `${ref}-4`, '--reviewer', 'olga', '--reason', 'no documents'], env);
      expect(reject.code).toBe(0);
      expect(reject.stdout).toMatch(
        new RegExp(`^deposit ${ref}-4 REJECTED: 30000\\.00 USD to account ${account} \\(.*olga.*\\)\n$`),
      );
      expect(reject.stdout).not.toContain('\x1b'); // no colours when not on a terminal

      const noSaga = await txmgr(['saga', `${ref}-NOPE`], env);
      expect(noSaga.code).toBe(2);
      expect(noSaga.stderr).toBe(
        `NotFound: no saga with workflow id or bank reference ${ref}-NOPE — list deposits with: txmgr deposit list\n`,
      );

      const denied = await txmgr(
        [
          'deposit',
          'start',
          '--account',
          account,
          '--asset',
          'USD',
          '--amount',
          '1.00',
          '--reference',
          `${ref}-3`,
          '--sender',
          'Mallory Sanctioned',
        ],
        env,
      );
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/^ComplianceRejected: deposit rejected by compliance: /m);
      expect(denied.stderr).not.toMatch(/ApplicationFailure|WorkflowFailedError/);
    } finally {
      await worker.stop();
    }

    const balance = await txmgr(['balance', account], { DATABASE_URL: ctx.databaseUrl });
    expect(balance.code).toBe(0);
    expect(balance.stdout).toMatch(/balance +25250\.00 USD/);
    const json = await txmgr(['balance', account, '--json'], { DATABASE_URL: ctx.databaseUrl });
    expect(JSON.parse(json.stdout)).toMatchObject({ accountId: account, balance: '2525000', balanceDisplay: '25250.00' });
  });

  test('without a worker the wait says so and how to start one; a failing workflow task is printed and ends the wait', async () => {
    const account = randomUUID();
    await ctx.pool.query(
      `INSERT INTO accounts (id, asset, kind, owner, debits_must_not_exceed_credits) VALUES ($1, 'USD', 'user', 'bob', true)`,
      [account],
    );
    const idle = ctx.taskQueue();
    const args = (ref: string, timeout: string) => [
      'deposit',
      'start',
      '--account',
      account,
      '--asset',
      'USD',
      '--amount',
      '1.00',
      '--reference',
      ref,
      '--sender',
      'Bob B',
      '--timeout',
      timeout,
    ];
    const noWorker = await txmgr(args(`CLI-${uid()}`, '3'), stackEnv(ctx.databaseUrl, idle));
    expect(noWorker.code).toBe(1);
    const open = await txmgr(['account', 'open', '--owner', 'bob', '--asset', 'USD'], stackEnv(ctx.databaseUrl, idle));
    expect(open.code).toBe(1);
    expect(open.stderr).toBe(
      `NoWorker: no worker polls task queue ${idle} — start one with: TEMPORAL_TASK_QUEUE=${idle} npm run worker\n`,
    );
    expect(noWorker.stderr).toContain(
      `no worker polls task queue ${idle} — start one with: TEMPORAL_TASK_QUEUE=${idle} npm run worker`,
    );

    // A workflow whose task cannot run (here: a type the worker does not have) under a deposit's id,
    // served by a worker process (its log, full of that failure, stays in the process).
    const tq = ctx.taskQueue();
    const ref = `CLI-${uid()}`;
    await ctx.temporal.workflow.start('noSuchWorkflowType', { taskQueue: tq, workflowId: `deposit-${ref}`, args: [] });
    const worker = await startWorkerProcess(stackEnv(ctx.databaseUrl, tq));
    let failing;
    try {
      failing = await txmgr(args(ref, '120'), stackEnv(ctx.databaseUrl, tq));
    } finally {
      await worker.stop();
    }
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(
      /WorkflowTaskFailing: saga deposit-CLI-\w+ cannot run: its workflow task failed \d+ times, last with: .*noSuchWorkflowType/,
    );
    await ctx.temporal.workflow.getHandle(`deposit-${ref}`).terminate('test done');
  });
});

describe('config from the CLI', () => {
  test('show prints the current config in human decimals; history JSON is camelCase', async () => {
    const show = await txmgr(['config', 'show', 'compliance', '--json'], { DATABASE_URL: ctx.databaseUrl });
    expect(show.code).toBe(0);
    const view = JSON.parse(show.stdout) as { compliance: Array<{ asset: string; reviewThreshold: string }> };
    expect(view.compliance.find((c) => c.asset === 'USD')?.reviewThreshold).toMatch(/^\d+\.\d{2} USD$/);
    const table = await txmgr(['config', 'show'], { DATABASE_URL: ctx.databaseUrl });
    for (const section of ['markets', 'compliance review thresholds', 'deny list', 'withdrawal rules', 'campaign defaults']) {
      expect(table.stdout).toContain(`\n${section}\n`);
    }
    const bad = await txmgr(['config', 'show', 'nope'], { DATABASE_URL: ctx.databaseUrl });
    expect(bad.code).toBe(2);
    const history = await txmgr(['config', 'history', '--limit', '2', '--json'], { DATABASE_URL: ctx.databaseUrl });
    const rows = JSON.parse(history.stdout) as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(2);
    expect(Object.keys(rows[0] ?? {}).every((k) => /^[a-z][a-zA-Z]*$/.test(k))).toBe(true);
  });

  test('apply takes a directory (files in name order) and several files in order', async () => {
    const tq = ctx.taskQueue();
    const env = stackEnv(ctx.databaseUrl, tq);
    const workflowId = `config-siphon-cli-${uid()}`;
    const applied = await ctx.withWorker(tq, () =>
      txmgr(['config', 'apply', 'examples/config', '--workflow-id', workflowId, '--json'], env),
    );
    expect(applied.code).toBe(0);
    const ids = (JSON.parse(applied.stdout) as Array<{ id: string; status: string }>).map((r) => r.id);
    const expected = exampleConfigTransactions().map((t) => t.id);
    // examples/config in name order: campaigns, compliance, markets, withdrawals.
    expect(new Set(ids)).toEqual(new Set(expected));
    expect(ids[0]).toMatch(/campaign/);
    const files = await ctx.withWorker(tq, () =>
      txmgr(
        [
          'config',
          'apply',
          'examples/config/markets.json',
          'examples/config/campaigns.json',
          '--workflow-id',
          workflowId,
          '--json',
        ],
        env,
      ),
    );
    expect(files.code).toBe(0);
    const order = (JSON.parse(files.stdout) as Array<{ id: string }>).map((r) => r.id);
    expect(order[0]).toMatch(/market/);
    expect(order[order.length - 1]).toMatch(/campaign/);
    const missing = await txmgr(['config', 'apply', 'no/such/file.json'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('ValidationError: config file no/such/file.json does not exist\n');
  });

  test('a copied config file that reuses an id with changed content is refused and changes nothing; a new id applies it', async () => {
    const tq = ctx.taskQueue();
    const env = stackEnv(ctx.databaseUrl, tq);
    const workflowId = `config-siphon-cli-${uid()}`;
    const usdThreshold = async () =>
      (await ctx.pool.query<{ t: string }>(`SELECT review_threshold::text AS t FROM compliance_settings WHERE asset = 'USD'`))
        .rows[0]?.t;
    const worker = await startWorkerProcess(env);
    try {
      // The examples are applied (by id) before: the copy's ids are taken.
      expect((await txmgr(['config', 'apply', 'examples/config/compliance.json', '--workflow-id', workflowId], env)).code).toBe(
        0,
      );
      const before = await usdThreshold();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-cli-conflict-'));
      const copy = JSON.parse(fs.readFileSync('examples/config/compliance.json', 'utf8')) as Array<{
        id: string;
        payload: { thresholds?: Array<{ asset: string; reviewThreshold: string }> };
      }>;
      const usd = copy[0]?.payload.thresholds?.find((t) => t.asset === 'USD');
      if (!usd) throw new Error('examples/config/compliance.json has no USD threshold');
      usd.reviewThreshold = '5000.00';
      const file = path.join(dir, 'compliance.json');
      fs.writeFileSync(file, JSON.stringify(copy));

      const refused = await txmgr(['config', 'apply', file, '--workflow-id', workflowId], env);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(
        /^IdempotencyConflict: config transaction example-compliance-thresholds-v2 was already used [^\n]*5000\.00[^\n]* — a change needs a new id\n$/,
      );
      expect(refused.stderr).not.toMatch(/500000\b/);
      expect(await usdThreshold()).toBe(before);
      const history = await txmgr(['config', 'history', '--conflicts', '--json'], env);
      expect((JSON.parse(history.stdout) as Array<{ id: string }>)[0]?.id).toBe('example-compliance-thresholds-v2');

      copy[0]!.id = `compliance-thresholds-usd-5000-${uid()}`;
      fs.writeFileSync(file, JSON.stringify(copy));
      const applied = await txmgr(['config', 'apply', file, '--workflow-id', workflowId, '--json'], env);
      expect(applied.code).toBe(0);
      expect((JSON.parse(applied.stdout) as Array<{ status: string }>).map((r) => r.status)).toEqual(['applied', 'applied']);
      expect(await usdThreshold()).not.toBe(before);

      const account = randomUUID();
      const ref = `CLI-CFG-${uid()}`;
      expect((await txmgr(['account', 'open', '--id', account, '--owner', 'carol', '--asset', 'USD'], env)).code).toBe(0);
      const start = ['deposit', 'start', '--account', account, '--asset', 'USD', '--amount', '6000.00'];
      const deposit = await txmgr([...start, '--reference', ref, '--sender', 'Carol C', '--no-wait'], env);
      expect(deposit.code).toBe(0);
      await eventually(async () => (await txmgr(['deposit', 'status', ref], env)).stdout.includes('IN_REVIEW'), 60_000);
      expect((await txmgr(['deposit', 'status', ref], env)).stdout).toMatch(
        /reason +amount 6000\.00 USD is above the review threshold 5000\.00 USD\n/,
      );
      await ctx.temporal.workflow.getHandle(`deposit-${ref}`).terminate('test done');
    } finally {
      await worker.stop();
    }
  });
});
