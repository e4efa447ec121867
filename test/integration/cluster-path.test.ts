import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { withDatabase } from '../../src/db/admin';
import { expectedMigrations } from '../../src/db/migrate';
import { SEARCH_ATTRIBUTE_NAMES } from '../../src/temporal/search-attributes';
import { startPostgres, startTemporalDevServer, tempDir, type External } from '../cluster/external-services';
import { CLI_COMMAND, MIGRATE_COMMAND, WORKER_COMMAND, type WorkerEnv } from '../cluster/steps';

/**
 * The README's "Running against a real cluster" path, end to end and without Docker:
 * a Temporal dev server and a PostgreSQL as external processes, `npm run migrate`, two
 * `npm run worker` processes configured by environment only, and the CLI. Assertions
 * read PostgreSQL and Temporal, never the CLI's output.
 */
const ROOT = path.resolve(__dirname, '..', '..');
let dir: string;
let pg: External;
let temporal: External & { cli: string };
let admin: Pool;
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = tempDir('txmgr-cluster-');
  [pg, temporal] = await Promise.all([startPostgres(dir), startTemporalDevServer(dir)]);
  admin = new Pool({ connectionString: pg.url, max: 2 });
  admin.on('error', () => undefined); // PostgreSQL stopping at the end ends idle connections
}, 180_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) signalGroup(c, 'SIGKILL');
  await admin?.end();
  await Promise.all([pg?.stop(), temporal?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function freshDatabase(): Promise<string> {
  const name = `txmgr_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  return withDatabase(pg.url, name);
}

interface Run {
  code: number | null;
  stderr: string;
}

/** Runs a command to completion with exactly `env` (plus PATH and HOME for npm). */
function run(argv: readonly string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const baseEnv = (env: Record<string, string>): NodeJS.ProcessEnv => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  ...env,
});

/** stderr without npm's own chatter (its config warnings). */
const ownLines = (stderr: string): string[] =>
  stderr
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('npm warn'))
    .map((l) => l.trim());

/** Signals npm and the worker under it (cleanup only). */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    // already gone
  }
}

interface WorkerProcess {
  child: ChildProcess;
  /**
   * SIGTERM to the worker process itself (its pid from its log lines), as a supervisor
   * does; npm dies on SIGTERM without waiting, so it is not the one signalled.
   */
  terminate(): void;
  /** The worker's JSON log lines so far (npm's banner lines dropped). */
  logs(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

function startWorker(env: WorkerEnv): WorkerProcess {
  const [cmd, ...args] = WORKER_COMMAND;
  // Its own process group, so the test can signal npm and the worker together.
  const child = spawn(cmd, args, { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const logs = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const terminate = () => process.kill(logs()[0]?.pid as number, 'SIGTERM');
  return { child, logs, exited, terminate };
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const started = (w: WorkerProcess) =>
  eventually('worker started', async () => (w.logs().some((l) => l.msg === 'worker started') ? true : undefined));

async function one<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[]): Promise<T | undefined> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    return (await pool.query<T>(sql, params)).rows[0];
  } finally {
    await pool.end();
  }
}

describe('the cluster path from the README', () => {
  test('migrate, two workers and the CLI: a config transaction, a deposit in review approved after its worker drained on SIGTERM', async () => {
    const ownerUrl = await freshDatabase();
    // Migrations as the owner; the workers and the CLI as a login role in txmgr_app that migrate makes.
    const u = new URL(ownerUrl);
    u.username = 'txmgr_cluster_app';
    u.password = 'cluster-app-secret';
    const databaseUrl = u.toString();
    const workerEnv: WorkerEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'txmgr',
      DATABASE_URL: databaseUrl,
      WORKER_SHUTDOWN_GRACE_MS: '10000',
      // debug: the SDK logs "Workflow started" with the workflow id, so we know which worker holds a saga.
      LOG_LEVEL: 'debug',
    };
    const cliEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'txmgr',
      DATABASE_URL: databaseUrl,
    };
    const cli = (...args: string[]) => run([...CLI_COMMAND, ...args], cliEnv);

    // Before migrating, a worker refuses to start and says what to run.
    const early = await run(['node', 'dist/worker.js'], { ...workerEnv, DATABASE_URL: ownerUrl });
    expect(early.code).toBe(2);
    expect(ownLines(early.stderr)).toEqual([expect.stringContaining('run npm run migrate')]);

    const migrated = await run(MIGRATE_COMMAND, { DATABASE_URL: ownerUrl, APP_DATABASE_URL: databaseUrl });
    expect(migrated).toMatchObject({ code: 0 });
    const applied = await one<{ n: string }>(databaseUrl, 'SELECT count(*) AS n FROM pgmigrations', []);
    expect(Number(applied?.n)).toBe(expectedMigrations().length);
    expect(
      await one(databaseUrl, 'SELECT current_user AS u, pg_has_role(current_user, $1, $2) AS member', ['txmgr_app', 'MEMBER']),
    ).toEqual({
      u: 'txmgr_cluster_app',
      member: true,
    });

    // Two workers on one queue; the first registers the namespace's search attributes.
    const workers = [startWorker(workerEnv), startWorker(workerEnv)];
    await Promise.all(workers.map(started));

    // A config transaction: USD deposits above 100.00 now wait for review.
    const configFile = path.join(dir, 'thresholds.json');
    const configId = `cluster-thresholds-${randomUUID()}`;
    fs.writeFileSync(
      configFile,
      JSON.stringify([
        { id: configId, kind: 'compliance.thresholds', payload: { thresholds: [{ asset: 'USD', reviewThreshold: '100.00' }] } },
      ]),
    );
    expect(await cli('config', 'apply', configFile)).toMatchObject({ code: 0 });
    expect(await one(databaseUrl, 'SELECT status FROM config_transactions WHERE id = $1', [configId])).toEqual({
      status: 'applied',
    });
    expect(await one(databaseUrl, "SELECT review_threshold FROM compliance_settings WHERE asset = 'USD'", [])).toEqual({
      review_threshold: '10000',
    });

    const accountId = randomUUID();
    expect(await cli('account', 'open', '--owner', 'cluster-user', '--asset', 'USD', '--id', accountId)).toMatchObject({
      code: 0,
    });
    expect(await one(databaseUrl, 'SELECT asset FROM accounts WHERE id = $1', [accountId])).toEqual({ asset: 'USD' });

    const reference = `CLUSTER-${randomUUID().slice(0, 8)}`;
    const workflowId = `deposit-${reference}`;
    const deposit = await cli(
      ...['deposit', 'start', '--account', accountId, '--asset', 'USD', '--amount', '500.00'],
      ...['--reference', reference, '--sender', 'Clara Cluster', '--no-wait'],
    );
    expect(deposit).toMatchObject({ code: 0 });
    await eventually('the deposit in review', () =>
      one(databaseUrl, "SELECT 1 AS x FROM deposits WHERE bank_reference = $1 AND status = 'IN_REVIEW'", [reference]),
    );

    // npm exits with the worker's code once the worker has drained.
    // SIGTERM the worker that holds the saga (its workflow in that worker's cache): it drains and exits 0.
    const holds = (w: WorkerProcess) => w.logs().some((l) => l.workflowId === workflowId && l.msg === 'Workflow started');
    // Log lines travel through a pipe: under load they may arrive after the row changed.
    await eventually('the worker holding the saga', async () => (workers.some(holds) ? true : undefined));
    const holderIndex = workers.findIndex(holds);
    expect(holderIndex).toBeGreaterThanOrEqual(0);
    const holder = workers[holderIndex] as WorkerProcess;
    const other = workers[1 - holderIndex] as WorkerProcess;
    holder.terminate();
    expect(await holder.exited).toBe(0);
    expect(holder.logs().some((l) => l.msg === 'worker stopped')).toBe(true);

    // Approved after the drain: only the other worker can finish the saga.
    expect(await cli('deposit', 'approve', reference, '--reviewer', 'ops-oliver')).toMatchObject({ code: 0 });
    const credited = await eventually('the deposit credited', () =>
      one<{ status: string; credits_posted: string }>(
        databaseUrl,
        `SELECT d.status, a.credits_posted FROM deposits d JOIN accounts a ON a.id = d.account_id
          WHERE d.bank_reference = $1 AND d.status = 'CREDITED'`,
        [reference],
      ),
    );
    expect(credited).toEqual({ status: 'CREDITED', credits_posted: '50000' });
    expect(other.logs().some((l) => l.workflowId === workflowId && l.activity === 'creditDeposit')).toBe(true);

    const connection = await Connection.connect({ address: temporal.address });
    try {
      // The saga itself ends completed, with the outcome the rows show.
      const handle = new TemporalClient({ connection, namespace: 'default' }).workflow.getHandle(workflowId);
      expect(await handle.result()).toMatchObject({ status: 'CREDITED' });
    } finally {
      await connection.close();
    }

    other.terminate();
    expect(await other.exited).toBe(0);
  }, 600_000);

  test('a worker refuses a namespace without the search attributes when registering them is refused, naming each and the command', async () => {
    const databaseUrl = await freshDatabase();
    expect(await run(MIGRATE_COMMAND, { DATABASE_URL: databaseUrl })).toMatchObject({ code: 0 });
    const namespace = `full-${randomUUID().slice(0, 8)}`;
    const temporalCli = (...args: string[]) =>
      spawnSync(temporal.cli, ['operator', ...args, '--address', temporal.address], { encoding: 'utf8' });
    expect(temporalCli('namespace', 'create', '--namespace', namespace).status).toBe(0);
    // The dev server's SQL visibility holds 10 Keyword attributes per namespace: fill them,
    // so the server refuses the worker's registration (as it would a worker without operator rights).
    let filled = 0;
    for (let i = 0; i < 50; i++) {
      const r = temporalCli('search-attribute', 'create', '--namespace', namespace, '--name', `Filler${i}`, '--type', 'Keyword');
      if (r.status !== 0) break;
      filled++;
    }
    expect(filled).toBeGreaterThan(0);

    const env = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_TASK_QUEUE: 'txmgr',
      DATABASE_URL: databaseUrl,
    };
    const variants: Record<string, string>[] = [{}, { TXMGR_REGISTER_SEARCH_ATTRIBUTES: 'false' }];
    for (const extra of variants) {
      const refused = await run(['node', 'dist/worker.js'], { ...env, ...extra });
      expect(refused.code).toBe(2);
      const lines = ownLines(refused.stderr);
      expect(lines).toHaveLength(1);
      for (const name of SEARCH_ATTRIBUTE_NAMES) {
        expect(lines[0]).toContain(
          `temporal operator search-attribute create --address ${temporal.address} --namespace ${namespace} --name ${name} --type Keyword`,
        );
      }
    }
  });

  test('a worker exits 2 with one line, in seconds, for an unreachable Temporal or database, a missing namespace, a newer schema', async () => {
    const databaseUrl = await freshDatabase();
    expect(await run(MIGRATE_COMMAND, { DATABASE_URL: databaseUrl })).toMatchObject({ code: 0 });
    const env = { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default', DATABASE_URL: databaseUrl };
    const closedPort = `127.0.0.1:${new URL(pg.url).port === '1' ? 2 : 1}`;
    const cases: [Record<string, string>, RegExp][] = [
      [{ TEMPORAL_ADDRESS: closedPort }, /cannot reach Temporal at 127\.0\.0\.1:1 .*connection refused/],
      [{ TEMPORAL_ADDRESS: 'localhost' }, /TEMPORAL_ADDRESS must be host:port/],
      [
        { TEMPORAL_NAMESPACE: 'no-such-namespace' },
        /namespace "no-such-namespace" .*does not exist.*temporal operator namespace create/,
      ],
      [
        { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/txmgr' },
        /cannot reach the database at 127\.0\.0\.1:1\/txmgr: connection refused/,
      ],
      [{ DATABASE_URL: withDatabase(pg.url, 'no_such_db') }, /database does not exist/],
    ];
    for (const [override, message] of cases) {
      const r = await run(['node', 'dist/worker.js'], { ...env, ...override });
      expect({ override, code: r.code }).toEqual({ override, code: 2 });
      expect(r.stderr).toMatch(message);
    }
    // migrate: one line for a database it cannot reach, exit 2 for a malformed URL.
    const unreachable = await run(MIGRATE_COMMAND, { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/txmgr' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('cannot reach the database at 127.0.0.1:1/txmgr: connection refused');
    const malformed = await run(MIGRATE_COMMAND, { DATABASE_URL: 'mysql://db/txmgr' });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('DATABASE_URL must start with postgres://');

    // A newer release's migration applied: this code refuses to run on that schema.
    await one(databaseUrl, "INSERT INTO pgmigrations (name, run_on) VALUES ('29991231000000000_from_the_future', now())", []);
    const newer = await run(['node', 'dist/worker.js'], env);
    expect(newer.code).toBe(2);
    expect(ownLines(newer.stderr)).toEqual([
      expect.stringMatching(/schema is newer than this code.*29991231000000000_from_the_future/),
    ]);
    // ... and so does migrate (node-pg-migrate's order check), without touching it.
    expect((await run(MIGRATE_COMMAND, { DATABASE_URL: databaseUrl })).code).not.toBe(0);
  });
});
