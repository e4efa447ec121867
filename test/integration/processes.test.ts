import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { balances, openUserAccount } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';
import { runProcess, type CliRun } from './cli-process';

/**
 * The built programs as a user runs them (npm test builds dist/ first): the worker
 * process and the txmgr CLI, against this file's database and the test Temporal.
 */
const ctx = useTestContext();
const ROOT = path.resolve(__dirname, '..', '..');

/** The shared spawn helper; a program here is node with its arguments. */
const run = (args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> => runProcess(process.execPath, args, env);

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in time; saw:\n${seen}`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

async function until(probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

const stackEnv = (taskQueue: string): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: process.env.TXMGR_TEST_TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
  TEMPORAL_TASK_QUEUE: taskQueue,
  DATABASE_URL: ctx.databaseUrl,
});

describe('worker process', () => {
  test('refuses to start without its required variables, naming each one', async () => {
    const missing = await run(['dist/worker.js'], {});
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('TEMPORAL_ADDRESS is required');
    expect(missing.stderr).toContain('DATABASE_URL is required');
    const undersized = await run(['dist/worker.js'], {
      ...stackEnv('unused'),
      PG_POOL_MAX: '4',
      WORKER_MAX_CONCURRENT_ACTIVITIES: '8',
    });
    expect(undersized.code).toBe(2);
    expect(undersized.stderr).toContain('PG_POOL_MAX must be at least WORKER_MAX_CONCURRENT_ACTIVITIES');
  });

  test('serves deposits, logs JSON with workflow and activity context, and drains on SIGTERM with a saga in flight', async () => {
    const taskQueue = ctx.taskQueue();
    const client = ctx.client(taskQueue);
    const child = spawn(process.execPath, ['dist/worker.js'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...stackEnv(taskQueue), LOG_LEVEL: 'debug', WORKER_SHUTDOWN_GRACE_MS: '3000' },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const account = await openUserAccount(ctx.pool);
    // Above the USD review threshold (10,000.00): the saga waits for a decision.
    const inReview = `PROC-${randomUUID().slice(0, 8)}`;
    try {
      await waitForLine(child, /"msg":"worker started"/);
      const result = await client.depositFiat({
        accountId: account,
        asset: 'USD',
        amount: '3.21',
        bankReference: `PROC-${randomUUID().slice(0, 8)}`,
        senderName: 'Proc Ess',
      });
      expect(result.status).toBe('CREDITED');
      await client.startDeposit({
        accountId: account,
        asset: 'USD',
        amount: '20000.00',
        bankReference: inReview,
        senderName: 'Proc Ess',
      });
      await until(async () => {
        const { rows } = await ctx.pool.query('SELECT status FROM deposits WHERE bank_reference = $1', [inReview]);
        return rows[0]?.status === 'IN_REVIEW';
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);

    // The saga outlives the worker: approved after the drain, another worker finishes it.
    await client.approveDeposit(inReview, { reviewer: 'ops-after-sigterm' });
    const finished = await ctx.withWorker(taskQueue, () => ctx.temporal.workflow.getHandle(`deposit-${inReview}`).result());
    expect(finished).toMatchObject({ status: 'CREDITED' });
    expect((await balances(ctx.pool, account)).balance).toBe(321n + 2_000_000n);

    const lines = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.msg === 'shutting down: draining in-flight tasks')).toBe(true);
    expect(lines.some((l) => l.msg === 'worker stopped')).toBe(true);
    // The SDK's runtime logger is bridged to pino: its lines are JSON too.
    expect(lines.some((l) => l.component === 'temporal-sdk')).toBe(true);
    // Activity lines carry the workflow, run, activity and attempt they belong to.
    expect(
      lines.some(
        (l) =>
          l.activity === 'creditDeposit' && typeof l.workflowId === 'string' && typeof l.runId === 'string' && l.attempt === 1,
      ),
    ).toBe(true);
  });
});

describe('txmgr CLI', () => {
  test('rejects a bad amount with a message naming the field, and starts nothing', async () => {
    const account = await openUserAccount(ctx.pool);
    const r = await run(
      [
        'dist/client/cli.js',
        'deposit',
        'start',
        '--account',
        account,
        '--asset',
        'USD',
        '--amount',
        '1.001',
        '--reference',
        'CLI-1',
        '--sender',
        'C',
      ],
      stackEnv(ctx.taskQueue()),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ValidationError: .*amount has 3 decimal places but the asset allows 2/);
  });

  test('opens an account and reports its balance', async () => {
    const env = stackEnv(ctx.taskQueue());
    const open = await ctx.withWorker(env.TEMPORAL_TASK_QUEUE as string, () =>
      run(['dist/client/cli.js', 'account', 'open', '--owner', 'cli-user', '--asset', 'BTC', '--json'], env),
    );
    expect(open.code).toBe(0);
    const account = JSON.parse(open.stdout) as { accountId: string };
    const balance = await run(['dist/client/cli.js', 'balance', account.accountId, '--json'], env);
    expect(balance.code).toBe(0);
    expect(JSON.parse(balance.stdout)).toMatchObject({ asset: 'BTC', scale: 8, balanceDisplay: '0.00000000', owner: 'cli-user' });
  });
});
