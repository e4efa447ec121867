import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { ensureDatabase } from '../db/admin';
import type { Logger } from '../logger';
import { ensureSearchAttributes } from '../temporal/ensure-search-attributes';
import { SEARCH_ATTRIBUTES } from '../temporal/search-attributes';
import { startEmbeddedPostgres } from './embedded-postgres';
import { freePort } from './free-port';
import { findTemporalCli } from './temporal-cli';

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
}

export interface Stack {
  databaseUrl: string;
  /** URL of the server's maintenance database, when txmgr started PostgreSQL itself. */
  adminUrl?: string;
  temporalAddress: string;
  namespace: string;
  webUiUrl?: string;
  connection: Connection;
  nativeConnection: NativeConnection;
  stop(): Promise<void>;
}

/**
 * Starts what is not given: the Temporal dev server (Web UI on, our search
 * attributes registered) and an embedded PostgreSQL. Stops only what it started.
 */
export async function startStack(o: StackOptions): Promise<Stack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((err: unknown) => o.logger.warn({ err }, 'stop failed'));
  };
  try {
    fs.mkdirSync(o.dataDir, { recursive: true });
    let databaseUrl: string;
    let adminUrl: string | undefined;
    if (o.databaseUrl) {
      databaseUrl = o.databaseUrl;
    } else {
      const pg = await startEmbeddedPostgres(path.join(path.resolve(o.dataDir), 'postgres'), o.logger, {
        durable: o.durablePostgres !== false,
      });
      stops.push(() => pg.stop());
      adminUrl = pg.adminUrl;
      databaseUrl = await ensureDatabase(pg.adminUrl, o.databaseName);
      o.logger.info({ port: pg.port }, 'embedded PostgreSQL started');
    }

    let temporalAddress: string;
    let webUiUrl: string | undefined;
    let connection: Connection;
    let nativeConnection: NativeConnection;
    if (o.temporalAddress) {
      temporalAddress = o.temporalAddress;
      connection = await Connection.connect({ address: temporalAddress });
      stops.push(() => connection.close());
      nativeConnection = await NativeConnection.connect({ address: temporalAddress });
      stops.push(() => nativeConnection.close());
      await ensureSearchAttributes(connection, o.namespace);
    } else {
      const cli = findTemporalCli({ projectRoot: PROJECT_ROOT, log: (m) => o.logger.info(m) });
      o.logger.info({ cli }, 'starting the Temporal dev server');
      const uiPort = o.uiPort ?? (await freePort());
      const env = await TestWorkflowEnvironment.createLocal({
        server: {
          executable: cli.path ? { type: 'existing-path', path: cli.path } : undefined,
          namespace: o.namespace,
          dbFilename: o.persistTemporal ? path.join(path.resolve(o.dataDir), 'temporal.sqlite') : undefined,
          ui: true,
          uiPort,
          searchAttributes: [...SEARCH_ATTRIBUTES],
          log: { format: 'json', level: 'error' },
        },
      });
      stops.push(() => env.teardown());
      temporalAddress = env.address;
      webUiUrl = `http://127.0.0.1:${uiPort}/namespaces/${o.namespace}/workflows`;
      connection = env.connection;
      nativeConnection = env.nativeConnection;
    }
    return { databaseUrl, adminUrl, temporalAddress, namespace: o.namespace, webUiUrl, connection, nativeConnection, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
