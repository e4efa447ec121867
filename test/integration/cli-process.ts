import { spawn } from 'node:child_process';
import path from 'node:path';

/** The built txmgr CLI (dist/client/cli.js) run as a user runs it: a process, its output and exit code. */
export const ROOT = path.resolve(__dirname, '..', '..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program with only the given environment (plus PATH); never inherits the test's variables. */
export function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

export const txmgr = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
  runProcess(process.execPath, ['dist/client/cli.js', ...args], env);

/** The environment `npm run demo -- --keep` prints, pointed at the test stack. */
export const stackEnv = (databaseUrl: string, taskQueue: string): NodeJS.ProcessEnv => ({
  TEMPORAL_ADDRESS: process.env.TXMGR_TEST_TEMPORAL_ADDRESS,
  TEMPORAL_NAMESPACE: process.env.TXMGR_TEST_NAMESPACE ?? 'default',
  TEMPORAL_TASK_QUEUE: taskQueue,
  DATABASE_URL: databaseUrl,
});

/** `npm run worker` as a process (dist/worker.js); its log is kept, not printed. */
export async function startWorkerProcess(
  env: NodeJS.ProcessEnv,
): Promise<{ stop(): Promise<void>; kill(): Promise<void>; log(): string }> {
  const child = spawn(process.execPath, ['dist/worker.js'], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  let log = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in time; its log:\n${log}`)), 60_000);
    const onData = (d: Buffer) => {
      log += d.toString();
      if (log.includes('"msg":"worker started"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code} before it started; its log:\n${log}`));
    });
  });
  return {
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    /** A crash: SIGKILL, no drain, no goodbye to Temporal or PostgreSQL. */
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A txmgr process to interact with: resolves `until` once its stderr matches, then it can be signalled. */
export function spawnTxmgr(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['dist/client/cli.js', ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  const listeners: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const l of listeners) l();
  });
  const done = new Promise<CliRun>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    child,
    done,
    until(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${pattern} on stderr in time; saw:\n${stderr}`)), timeoutMs);
        const check = () => {
          if (pattern.test(stderr)) {
            clearTimeout(timer);
            resolve();
          }
        };
        listeners.push(check);
        check();
      });
    },
  };
}
