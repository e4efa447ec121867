import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readLock } from '../../src/infra/data-dir';
import { isRunning, markedProcesses, stopStackProcesses, type ProcessRef } from '../../src/infra/processes';
import { eventually } from '../helpers/context';
import { testLog } from '../helpers/log-buffer';

/**
 * The demo and the bench entry point as processes, on their own data directories:
 * one owner per directory, nothing left running however they end, every failure a
 * sentence. `--stack-only` starts just the stack (the demo's story is in other tests).
 */
const ROOT = path.resolve(__dirname, '..', '..');
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-stack-test-'));
// As root PostgreSQL runs as the `postgres` user, which must reach the data directory.
fs.chmodSync(base, 0o755);
const dirs: string[] = [];
const children: ChildProcess[] = [];

function dataDir(name: string): string {
  const dir = path.join(base, name);
  dirs.push(dir);
  return dir;
}

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
  /** Resolves when stdout has shown a line matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

function start(program: 'demo' | 'bench', args: string[]): Proc {
  const argv = program === 'demo' ? ['dist/demo.js', ...args] : ['-r', './bench/register.js', 'bench/siphon.ts', ...args];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, LOG_LEVEL: 'error' };
  if (process.env.TEMPORAL_CLI_PATH) env.TEMPORAL_CLI_PATH = process.env.TEMPORAL_CLI_PATH;
  const child = spawn(process.execPath, argv, { cwd: ROOT, env });
  children.push(child);
  let out = '';
  let err = '';
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    testLog(`[${program} ${child.pid} stdout] ${d.toString()}`);
    for (const w of waiters.filter((x) => x.pattern.test(out))) w.resolve();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    testLog(`[${program} ${child.pid} stderr] ${d.toString()}`);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code, sig) => resolve(sig ? 128 : code)));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(out)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no ${pattern} in time; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`exited ${code} before ${pattern}; stdout:\n${out}\nstderr:\n${err}`));
        });
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
  };
}

/** Runs to the end; returns the exit code and output. */
async function run(program: 'demo' | 'bench', args: string[]) {
  const p = start(program, args);
  const code = await p.exited;
  return { code, out: p.out(), err: p.err() };
}

/** The services (PostgreSQL, dev server) of a data directory's stack, found by their marker. */
const servicesOf = (dir: string) => markedProcesses(dir);

async function expectNothingRunning(dir: string, old: ProcessRef[] = []): Promise<void> {
  await eventually(async () => servicesOf(dir).length === 0 && old.every((p) => !isRunning(p)), 60_000);
  expect(servicesOf(dir).map((p) => p.command)).toEqual([]);
  expect(old.filter(isRunning)).toEqual([]);
}

/** A failure a person reads: a sentence, never undefined, [object Object] or a stack. */
function expectSentence(text: string): void {
  expect(text).not.toMatch(/undefined|\[object Object\]|^\s+at .+:\d+:\d+\)?$/m);
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const dir of dirs) await stopStackProcesses(dir, readLock(dir)?.services ?? {});
  fs.rmSync(base, { recursive: true, force: true });
}, 180_000);

describe('one owner per data directory', () => {
  test('a second run on the same directory exits 2 naming the holder; a run on another directory starts; Ctrl-C stops everything', async () => {
    const shared = dataDir('shared');
    const first = start('demo', ['--stack-only', '--keep', '--data-dir', shared]);
    await first.waitFor(/DATABASE_URL=\S+\n/);
    expect(first.out()).toMatch(
      /export TEMPORAL_ADDRESS=\S+ TEMPORAL_NAMESPACE=\S+ TEMPORAL_TASK_QUEUE=\S+ DATABASE_URL=\S+ CUSTODY_DATABASE_URL=\S+_custody\n/,
    );

    const [second, elsewhere, bench] = await Promise.all([
      run('demo', ['--stack-only', '--data-dir', shared]),
      run('demo', ['--stack-only', '--data-dir', dataDir('other')]),
      run('bench', ['--stack-only', '--data-dir', shared]),
    ]);
    for (const refused of [second, bench]) {
      expect(refused.code).toBe(2);
      const lines = refused.err.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`data directory ${shared} is in use by pid ${first.child.pid} since `);
      expect(lines[0]).toContain('dist/demo.js --stack-only --keep');
      expect(lines[0]).toMatch(/stop that process .*kill \d+.*--data-dir/);
    }
    expect(elsewhere.code).toBe(0);
    expect(elsewhere.out).toContain('stack ready');

    const services = servicesOf(shared);
    expect(services.length).toBeGreaterThanOrEqual(2);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(130);
    expect(first.out()).toMatch(/Ctrl-C: stopping PostgreSQL \(pid \d+.*the Temporal dev server \(pid \d+/);
    expect(first.out()).toMatch(/stopped .*nothing is left running/);
    // Stopped by the demo itself before it exited, not later by the supervisor.
    expect(servicesOf(shared).map((p) => p.command)).toEqual([]);
    await expectNothingRunning(shared, services);
    expect(readLock(shared)).toBeUndefined();
  });
});

describe('nothing is left running however a run ends', () => {
  test('SIGKILL after start-up: its supervisor stops PostgreSQL and the dev server; the next run starts', async () => {
    const dir = dataDir('killed-after');
    const first = start('demo', ['--stack-only', '--keep', '--data-dir', dir]);
    await first.waitFor(/stack ready/);
    const services = servicesOf(dir);
    first.child.kill('SIGKILL');
    await expectNothingRunning(dir, services);
    const next = await run('demo', ['--stack-only', '--data-dir', dir]);
    expect(next.code).toBe(0);
    expect(next.out).toContain('stack ready');
    await expectNothingRunning(dir);
  });

  test('SIGKILL of the run and its supervisor: the next run stops the orphans cleanly, then starts', async () => {
    const dir = dataDir('orphans');
    const first = start('demo', ['--stack-only', '--keep', '--data-dir', dir]);
    await first.waitFor(/stack ready/);
    const lock = readLock(dir)!;
    const services = servicesOf(dir);
    process.kill(lock.supervisor!.pid, 'SIGKILL');
    first.child.kill('SIGKILL');
    await first.exited;
    // Orphans, until someone stops them (PostgreSQL's own workers come and go; its postmaster stays).
    const { postgres, temporal } = lock.services;
    expect([postgres, temporal].map(isRunning)).toEqual([true, true]);

    const next = await run('demo', ['--stack-only', '--data-dir', dir]);
    expect(next.code).toBe(0);
    expect(next.out).toContain(`a previous run (pid ${first.child.pid}, since ${lock.since}) ended without stopping`);
    expect(next.out).toMatch(/stopped the Temporal dev server \(pid \d+\), PostgreSQL \(pid \d+\)/);
    await expectNothingRunning(dir, services);
    // Stopped with a fast shutdown, not killed: PostgreSQL logged it and the cluster started again without recovery.
    const log = fs.readFileSync(path.join(dir, 'postgres.log'), 'utf8');
    expect(log).toContain('received fast shutdown request');
  });

  test('SIGKILL during start-up: nothing of that run is left and the next run starts', async () => {
    const dir = dataDir('killed-during');
    const first = start('demo', ['--stack-only', '--keep', '--data-dir', dir]);
    await first.waitFor(/starting the Temporal dev server/);
    first.child.kill('SIGKILL');
    await first.exited;
    const next = await run('demo', ['--stack-only', '--data-dir', dir]);
    expect(next.code).toBe(0);
    await expectNothingRunning(dir);
  });

  test.each([
    ['while PostgreSQL starts', /starting PostgreSQL/],
    ['while the dev server starts', /starting the Temporal dev server/],
  ])('Ctrl-C %s stops what has started and leaves nothing running', async (_moment, pattern) => {
    const dir = dataDir(`sigint-${_moment.replace(/\W+/g, '-')}`);
    const p = start('demo', ['--stack-only', '--keep', '--data-dir', dir]);
    await p.waitFor(pattern);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);
    expect(p.out()).toMatch(/Ctrl-C: stopping what has started so far/);
    expect(p.out()).toContain('nothing is left running');
    expectSentence(p.err());
    await expectNothingRunning(dir);
    expect(readLock(dir)).toBeUndefined();
  });

  test('Ctrl-C while the demo runs its deposits stops the worker and the stack, without a stack trace', async () => {
    const dir = dataDir('demo-run');
    const p = start('demo', ['--data-dir', dir]);
    await p.waitFor(/1\. ordinary deposit/);
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(130);
    expect(p.out()).toMatch(/Ctrl-C: stopping the worker, PostgreSQL \(pid \d+.*the Temporal dev server/);
    expect(p.out()).toContain(`nothing is left running. Data kept in ${dir}.`);
    expect(p.err()).toBe('');
    await expectNothingRunning(dir);
  });

  test('the bench entry point: SIGKILL during start-up leaves nothing behind, the next run starts', async () => {
    const dir = dataDir('bench');
    const first = start('bench', ['--stack-only', '--data-dir', dir]);
    await first.waitFor(/starting the Temporal dev server/);
    first.child.kill('SIGKILL');
    await first.exited;
    const next = await run('bench', ['--stack-only', '--data-dir', dir]);
    expect(next.code).toBe(0);
    expect(next.out).toContain('stack ready');
    await expectNothingRunning(dir);
  });
});

describe('every failure is a sentence', () => {
  test('PostgreSQL that cannot use its data directory: which service, why, the last lines of its log', async () => {
    const dir = dataDir('not-owned');
    expect((await run('demo', ['--stack-only', '--data-dir', dir])).code).toBe(0);
    const pgDir = path.join(dir, 'postgres');
    // Another owner (as root: PostgreSQL runs as the `postgres` user), or no access at all.
    if (process.getuid?.() === 0) fs.chownSync(pgDir, 65534, 65534);
    else fs.chmodSync(pgDir, 0o000);
    try {
      const failed = await run('demo', ['--stack-only', '--data-dir', dir]);
      expect(failed.code).toBe(1);
      expect(failed.err).toMatch(
        /^txmgr demo: PostgreSQL did not start: it exited with code \d+ — fix the cause in its log below .*--reset or another --data-dir\n {2}last lines of .*postgres\.log:\n/,
      );
      expect(failed.err).toMatch(/data directory .* has wrong ownership|Permission denied/);
      expectSentence(failed.err);
      await expectNothingRunning(dir);
      expect(readLock(dir)).toBeUndefined();
    } finally {
      fs.chmodSync(pgDir, 0o700);
    }
  });

  test('a dev server that cannot start: which service, why, the last lines of its log; PostgreSQL stopped again', async () => {
    const dir = dataDir('bad-sqlite');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'temporal.sqlite'), 'this is not a database '.repeat(1000));
    const failed = await run('demo', ['--stack-only', '--data-dir', dir]);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(
      /^txmgr demo: the Temporal dev server did not start: it exited with code \d+ — fix the cause in its log below .*--reset or another --data-dir\n {2}last lines of .*temporal\.log:\n/,
    );
    expect(failed.err).toContain('file is not a database');
    expectSentence(failed.err);
    await expectNothingRunning(dir);
  });

  test('an unreachable external Temporal and a bad variable: one sentence each, exit 1 and 2', async () => {
    const env = { TEMPORAL_ADDRESS: '127.0.0.1:1', DATABASE_URL: 'postgres://u:p@127.0.0.1:1/x' };
    const unreachable = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, ['dist/demo.js', '--stack-only'], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code, err }));
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.err).toMatch(/^txmgr demo: cannot reach Temporal at 127\.0\.0\.1:1: .+ — check TEMPORAL_ADDRESS/);
    expectSentence(unreachable.err);

    const bad = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, ['dist/demo.js'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH, DATABASE_URL: 'mysql://x' },
      });
      let err = '';
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code, err }));
    });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('DATABASE_URL must start with postgres://');
    expectSentence(bad.err);
  });

  test('--reset says what it deletes and starts from an empty cluster', async () => {
    const dir = dataDir('reset');
    expect((await run('demo', ['--stack-only', '--data-dir', dir])).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'postgres', 'marker-from-an-earlier-run'), 'x');
    const reset = await run('demo', ['--stack-only', '--reset', '--data-dir', dir]);
    expect(reset.code).toBe(0);
    expect(reset.out).toContain(`--reset: deleting ${dir} (`);
    expect(reset.out).toMatch(/postgres.*the PostgreSQL cluster and Temporal history of earlier runs/);
    expect(fs.existsSync(path.join(dir, 'postgres', 'marker-from-an-earlier-run'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'postgres', 'PG_VERSION'))).toBe(true);
  });
});
