import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { ensureDatabase } from '../db/admin';
import { EMBEDDED_APP_LOGIN, ensureAppLogin, withLogin } from '../db/app-role';
import type { Logger } from '../logger';
import { ensureSearchAttributes } from '../temporal/ensure-search-attributes';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { acquireDataDir, LOCK_FILE, type DataDirLock } from './data-dir';
import { startEmbeddedPostgres } from './embedded-postgres';
import { freePort } from './free-port';
import { STACK_MARKER, stopProcess } from './processes';
import { StackError } from './stack-error';
import { startSupervisor } from './supervisor';
import { findTemporalCli } from './temporal-cli';
import { startTemporalDevServer } from './temporal-server';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

export interface StackOptions {
  logger: Logger;
  dataDir: string;
  namespace: string;
  /** Application database name (created if missing). */
  databaseName: string;
  /** External services; when unset the embedded ones start. */
  temporalAddress?: string;
  databaseUrl?: string;
  /** Keep Temporal's history in a SQLite file under dataDir (the demo); tests use memory. */
  persistTemporal?: boolean;
  /** False for throwaway data (tests): PostgreSQL skips fsync. Default true. */
  durablePostgres?: boolean;
  uiPort?: number;
  /** False: no Web UI (tests). Default true. */
  ui?: boolean;
  /** Written into the data directory's lock, for whoever finds it held. Default: this process's command line. */
  command?: string;
  /** Delete the data directory's contents (after taking its lock) before starting. */
  reset?: boolean;
  /** Progress lines for a person (what starts, what was cleaned up). */
  say?: (line: string) => void;
  /** Aborting stops what has started so far and rejects with exit code 130. */
  signal?: AbortSignal;
}

export interface Stack {
  /** The owner's URL: migrations run as this role. */
  databaseUrl: string;
  /**
   * The worker's, the CLI's and the API's URL when txmgr started PostgreSQL itself: a login
   * role in txmgr_app, which reads and writes rows but never changes the schema.
   */
  appDatabaseUrl?: string;
  appCustodyDatabaseUrl?: string;
  /** The custody database (`<databaseName>_custody`), when txmgr started PostgreSQL itself. */
  custodyDatabaseUrl?: string;
  /** URL of the server's maintenance database, when txmgr started PostgreSQL itself. */
  adminUrl?: string;
  temporalAddress: string;
  namespace: string;
  webUiUrl?: string;
  connection: Connection;
  nativeConnection: NativeConnection;
  /** The processes this stack started, for a person ("PostgreSQL (pid 12)"). */
  services: string[];
  /** Stops what this stack started and releases the data directory; returns what it stopped. */
  stop(): Promise<string[]>;
}

const CLI_TYPES: Record<string, string> = { KEYWORD_LIST: 'KeywordList', DATETIME: 'Datetime' };
const cliType = (t: string) => CLI_TYPES[t] ?? `${t.charAt(0)}${t.slice(1).toLowerCase()}`;

/** Deletes everything in a data directory except its lock. */
function resetDataDir(dataDir: string, say: (line: string) => void): void {
  const entries = fs.readdirSync(dataDir).filter((e) => !e.startsWith(LOCK_FILE));
  if (!entries.length) return;
  say(`--reset: deleting ${dataDir} (${entries.join(', ')}): the PostgreSQL cluster and Temporal history of earlier runs`);
  for (const e of entries) fs.rmSync(path.join(dataDir, e), { recursive: true, force: true });
}

/**
 * Starts what is not given: the Temporal dev server (Web UI on, our search
 * attributes registered) and an embedded PostgreSQL, after taking the data
 * directory's lock and starting a supervisor that stops them if this process dies.
 * Stops only what it started.
 */
export async function startStack(o: StackOptions): Promise<Stack> {
  const say = o.say ?? ((line: string) => o.logger.info(line));
  const stopped: string[] = [];
  // A service's stop is registered the moment it is spawned, so an interrupted start stops it too.
  const stops: Array<{ what: string; stop: () => Promise<boolean | void> }> = [];
  const services: string[] = [];
  let lock: DataDirLock | undefined;
  const stop = async () => {
    for (const s of stops.splice(0).reverse()) {
      await s.stop().then(
        (wasRunning) => {
          if (s.what && wasRunning !== false) stopped.push(s.what);
        },
        (err: unknown) => o.logger.warn({ err }, `stopping ${s.what} failed`),
      );
    }
    lock?.release();
    return stopped;
  };
  const stopping = () => o.signal?.aborted === true;
  const checkAbort = () => {
    if (stopping()) throw new StackError('interrupted while starting', 'nothing to do', 130);
  };
  try {
    const dataDir = path.resolve(o.dataDir);
    if (!o.databaseUrl || !o.temporalAddress) {
      lock = await acquireDataDir(dataDir, {
        command: o.command ?? commandLine(),
        log: say,
      });
      lock.record({ supervisor: { pid: startSupervisor(dataDir, lock.info) ?? 0 } });
      if (o.reset) resetDataDir(dataDir, say);
    }
    const marker = dataDir;
    checkAbort();

    let databaseUrl: string;
    let adminUrl: string | undefined;
    let custodyDatabaseUrl: string | undefined;
    let appDatabaseUrl: string | undefined;
    let appCustodyDatabaseUrl: string | undefined;
    if (o.databaseUrl) {
      databaseUrl = o.databaseUrl;
    } else {
      say('starting PostgreSQL ...');
      const pg = await startEmbeddedPostgres(path.join(dataDir, 'postgres'), o.logger, {
        durable: o.durablePostgres !== false,
        logFile: path.join(dataDir, 'postgres.log'),
        marker,
        stopping,
        onSpawn: (ref) => {
          lock?.record({ services: { postgres: ref } });
          stops.push({ what: `PostgreSQL (pid ${ref.pid})`, stop: () => stopProcess(ref, 'postgres') });
        },
      });
      services.push(`PostgreSQL (pid ${pg.pid}, port ${pg.port})`);
      adminUrl = pg.adminUrl;
      databaseUrl = await ensureDatabase(pg.adminUrl, o.databaseName);
      custodyDatabaseUrl = await ensureDatabase(pg.adminUrl, `${o.databaseName}_custody`);
      const app = (url: string) => withLogin(url, EMBEDDED_APP_LOGIN.role, EMBEDDED_APP_LOGIN.password);
      await ensureAppLogin(pg.adminUrl, app(pg.adminUrl));
      appDatabaseUrl = app(databaseUrl);
      appCustodyDatabaseUrl = app(custodyDatabaseUrl);
      o.logger.info({ port: pg.port }, 'embedded PostgreSQL started');
    }
    checkAbort();

    let temporalAddress: string;
    let webUiUrl: string | undefined;
    if (o.temporalAddress) {
      temporalAddress = o.temporalAddress;
    } else {
      const cli = findTemporalCli({ projectRoot: PROJECT_ROOT, log: say });
      say('starting the Temporal dev server ...');
      const uiPort = o.ui === false ? undefined : (o.uiPort ?? (await freePort()));
      const dbFile = o.persistTemporal ? path.join(dataDir, 'temporal.sqlite') : undefined;
      if (cli.path) {
        const server = await startTemporalDevServer({
          cliPath: cli.path,
          port: await freePort(),
          uiPort,
          namespace: o.namespace,
          dbFile,
          searchAttributes: SEARCH_ATTRIBUTES.map((k) => ({ name: k.name, type: cliType(k.type) })),
          logFile: path.join(dataDir, 'temporal.log'),
          marker,
          stopping,
          onSpawn: (ref) => {
            lock?.record({ services: { temporal: ref } });
            stops.push({ what: `the Temporal dev server (pid ${ref.pid})`, stop: () => stopProcess(ref, 'other') });
          },
        });
        services.push(`the Temporal dev server (pid ${server.pid}, ${server.address})`);
        temporalAddress = server.address;
      } else {
        // Only the SDK's own download is left; the marker lets a later run find its server.
        process.env[STACK_MARKER] = marker;
        const env = await TestWorkflowEnvironment.createLocal({
          server: {
            namespace: o.namespace,
            dbFilename: dbFile,
            ui: uiPort !== undefined,
            uiPort,
            searchAttributes: [...SEARCH_ATTRIBUTES],
            log: { format: 'json', level: 'error' },
          },
        }).finally(() => delete process.env[STACK_MARKER]);
        stops.push({ what: 'the Temporal dev server', stop: () => env.teardown() });
        services.push(`the Temporal dev server (${env.address})`);
        temporalAddress = env.address;
      }
      if (uiPort) webUiUrl = `http://127.0.0.1:${uiPort}/namespaces/${o.namespace}/workflows`;
    }
    checkAbort();

    const connection = await Connection.connect({ address: temporalAddress, connectTimeout: '5s' }).catch((err: unknown) => {
      throw new StackError(
        `cannot reach Temporal at ${temporalAddress}: ${(err as Error).message}`,
        o.temporalAddress
          ? 'check TEMPORAL_ADDRESS, or unset it to use the embedded dev server'
          : 'see temporal.log in the data directory',
      );
    });
    stops.push({ what: '', stop: () => connection.close() });
    const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
    stops.push({ what: '', stop: () => nativeConnection.close() });
    if (o.temporalAddress) await ensureSearchAttributes(connection, o.namespace);
    checkAbort();
    return {
      databaseUrl,
      custodyDatabaseUrl,
      appDatabaseUrl,
      appCustodyDatabaseUrl,
      adminUrl,
      temporalAddress,
      namespace: o.namespace,
      webUiUrl,
      connection,
      nativeConnection,
      services,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** This process's command line as a person typed it ("node dist/demo.js --keep"). */
function commandLine(): string {
  const rel = (a: string) => (a.startsWith(`${process.cwd()}${path.sep}`) ? path.relative(process.cwd(), a) : a);
  return [path.basename(process.argv0), ...process.argv.slice(1).map(rel)].join(' ');
}
