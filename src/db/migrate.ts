import fs from 'node:fs';
import path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger';

/** migrations/ at the project root, from src/db or dist/db alike. */
export const MIGRATIONS_DIR = path.resolve(__dirname, '..', '..', 'migrations');
export const MIGRATIONS_TABLE = 'pgmigrations';

/** Bounded, so a wrong host or a black-holed port fails in seconds rather than hanging. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The database cannot be reached or refused us; the message is one line a person can act on. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/** Where the database's schema stands against the migrations this code ships. */
export interface SchemaStatus {
  /** current: all applied; pending: some to apply; newer: applied ones this code does not know; empty: none applied. */
  state: 'current' | 'pending' | 'newer' | 'empty';
  /** Migration names this code expects, in order. */
  expected: string[];
  latestApplied?: string;
  pending: string[];
  /** Applied in the database but absent from this code's migrations/ (a newer release ran). */
  unknown: string[];
}

/** The migration names in migrations/, in the order node-pg-migrate applies them. */
export function expectedMigrations(dir = MIGRATIONS_DIR): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(sql|js|ts)$/.test(f))
    .map((f) => f.replace(/\.(sql|js|ts)$/, ''))
    .sort();
}

/** "host:port/database" without credentials, for messages. */
export function describeDatabase(databaseUrl: string): string {
  try {
    const u = new URL(databaseUrl);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}

function clientConfig(databaseUrl: string): ClientConfig {
  return { connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS, application_name: 'txmgr-migrate' };
}

/** pg's connection failures as one line naming the database (never its password). */
export function unavailable(databaseUrl: string, err: unknown): DatabaseUnavailableError {
  const e = err as { code?: string; message?: string };
  const where = describeDatabase(databaseUrl);
  const reason =
    e.code === 'ECONNREFUSED'
      ? 'connection refused (is PostgreSQL running there?)'
      : e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
        ? 'host not found'
        : e.code === '3D000'
          ? 'database does not exist (create it first)'
          : e.code === '28P01' || e.code === '28000'
            ? 'authentication failed (check the user and password in DATABASE_URL)'
            : /timeout/i.test(e.message ?? '')
              ? `no answer within ${CONNECT_TIMEOUT_MS / 1000}s`
              : (e.message ?? String(err)).split('\n')[0];
  return new DatabaseUnavailableError(`cannot reach the database at ${where}: ${reason}`);
}

async function connected(databaseUrl: string): Promise<Client> {
  const client = new Client(clientConfig(databaseUrl));
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw unavailable(databaseUrl, err);
  }
  return client;
}

/**
 * Applies every pending migration in migrations/, each in its own transaction; returns
 * the names applied. `npm run migrate` and `txmgr migrate` both call this.
 * Throws DatabaseUnavailableError (one line) when the database cannot be reached.
 */
export async function migrate(databaseUrl: string, logger?: Logger): Promise<string[]> {
  const client = await connected(databaseUrl);
  try {
    // Never migrate "around" a newer release's migrations: refuse, naming them.
    const status = compareMigrations(expectedMigrations(), await appliedMigrations(client));
    if (status.state === 'newer') throw new Error(schemaProblem(status));
    const applied = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      direction: 'up',
      migrationsTable: MIGRATIONS_TABLE,
      count: Infinity,
      singleTransaction: false,
      checkOrder: true,
      verbose: false,
      log: (msg: string) => logger?.debug({ migration: true }, msg),
      logger: logger
        ? {
            debug: () => undefined,
            info: (m: string) => logger.debug(m),
            warn: (m: string) => logger.warn(m),
            error: (m: string) => logger.error(m),
          }
        : { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    return applied.map((m) => m.name);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Compares the applied migrations with this code's; reads only. */
export async function schemaStatus(databaseUrl: string): Promise<SchemaStatus> {
  const client = await connected(databaseUrl);
  try {
    return compareMigrations(expectedMigrations(), await appliedMigrations(client));
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function appliedMigrations(client: Client): Promise<string[]> {
  const { rows: table } = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [MIGRATIONS_TABLE]);
  if (!table[0]?.t) return [];
  const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY run_on, id`);
  return rows.map((r) => r.name);
}

export function compareMigrations(expected: string[], applied: string[]): SchemaStatus {
  const done = new Set(applied);
  const known = new Set(expected);
  const pending = expected.filter((m) => !done.has(m));
  const unknown = applied.filter((m) => !known.has(m));
  const state = unknown.length > 0 ? 'newer' : applied.length === 0 ? 'empty' : pending.length > 0 ? 'pending' : 'current';
  return { state, expected, latestApplied: applied[applied.length - 1], pending, unknown };
}

/** One line for a schema that is not the one this code expects; undefined when it is. */
export function schemaProblem(status: SchemaStatus): string | undefined {
  switch (status.state) {
    case 'current':
      return undefined;
    case 'empty':
      return `the database has no txmgr schema (${status.expected.length} migrations pending): run npm run migrate`;
    case 'pending':
      return `the database schema is behind this code: ${status.pending.length} migration(s) pending (${status.pending.join(', ')}): run npm run migrate`;
    case 'newer':
      return `the database schema is newer than this code: applied migration(s) ${status.unknown.join(', ')} are unknown to it; deploy the txmgr version that ships them`;
  }
}
