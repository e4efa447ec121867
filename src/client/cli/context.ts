import fs from 'node:fs';
import { Client, Connection } from '@temporalio/client';
import { NamespaceNotFoundError } from '@temporalio/common';
import type { Pool } from 'pg';
import { ConfigError, loadCommonConfig, type CommonConfig } from '../../config';
import { MIGRATIONS_DIR } from '../../db/migrate';
import { createPool } from '../../db/pool';
import { formatAmount } from '../../domain/money';
import { TxmgrClient } from '../index';
import { badInput, unreachable } from './printer';
import { describeDatabase, toCliError } from './errors';

/** Bounded, so a wrong address answers within seconds instead of hanging. */
const CONNECT_TIMEOUT_MS = 5_000;
const HOST_PORT = /^(\[[^\]]+\]|[^:\s/]+):\d{1,5}$/;

export const HOW_TO_GET_A_STACK = 'run npm run demo -- --keep and paste the export line it prints';

/**
 * What a command needs, connected on first use: `balance` and the other database
 * reads never touch Temporal, and `migrate` never touches either but the database.
 */
export class CliContext {
  private pool?: Pool;
  private connection?: Connection;
  private temporalClient?: Client;
  private readonly config: CommonConfig;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    try {
      this.config = loadCommonConfig(env);
    } catch (err) {
      if (err instanceof ConfigError) throw badInput('ConfigError', err.message.replace(/\n\s*/g, ' '), HOW_TO_GET_A_STACK);
      throw err;
    }
  }

  get taskQueue(): string {
    return this.config.taskQueue;
  }

  get namespace(): string {
    return this.config.namespace;
  }

  get temporalAddress(): string | undefined {
    return this.config.temporalAddress;
  }

  get hasDatabase(): boolean {
    return this.config.databaseUrl !== undefined;
  }

  get databaseUrl(): string {
    const url = this.config.databaseUrl;
    if (!url) throw badInput('ConfigError', 'DATABASE_URL is not set', HOW_TO_GET_A_STACK);
    return url;
  }

  /**
   * A pool that has answered once: unreachable databases, and (unless `schema: false`)
   * ones whose schema is missing, behind or ahead of this code, fail here with one line.
   */
  async db(o: { schema?: boolean } = {}): Promise<Pool> {
    if (this.pool) return this.pool;
    const pool = createPool({ databaseUrl: this.databaseUrl, max: 4, applicationName: 'txmgr-cli' });
    pool.options.connectionTimeoutMillis = CONNECT_TIMEOUT_MS;
    try {
      await pool.query('SELECT 1');
      if (o.schema !== false) await this.checkSchema(pool);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw toCliError(err, this);
    }
    this.pool = pool;
    return pool;
  }

  private async checkSchema(pool: Pool): Promise<void> {
    const known = fs
      .readdirSync(MIGRATIONS_DIR)
      .filter((f) => /\.(sql|js|ts)$/.test(f))
      .map((f) => f.replace(/\.[^.]+$/, ''));
    const { rows } = await pool.query<{ name: string }>('SELECT name FROM pgmigrations');
    const applied = new Set(rows.map((r) => r.name));
    const newer = [...applied].filter((name) => !known.includes(name));
    if (newer.length > 0) {
      throw badInput(
        'SchemaNewer',
        `database ${this.databaseWhere} has migrations this txmgr does not know (${newer.join(', ')})`,
        'use the txmgr version that migrated it',
      );
    }
    const pending = known.filter((name) => !applied.has(name));
    if (pending.length > 0) {
      throw badInput(
        'SchemaBehind',
        `database ${this.databaseWhere} lacks ${pending.length} of txmgr's migrations`,
        'run: txmgr migrate',
      );
    }
  }

  async temporal(): Promise<Client> {
    if (this.temporalClient) return this.temporalClient;
    const address = this.config.temporalAddress;
    if (!address) throw badInput('ConfigError', 'TEMPORAL_ADDRESS is not set', HOW_TO_GET_A_STACK);
    if (!HOST_PORT.test(address)) {
      throw badInput('ConfigError', `TEMPORAL_ADDRESS must be host:port, got "${address}"`, 'e.g. 127.0.0.1:7233');
    }
    let connection: Connection;
    try {
      connection = await Connection.connect({ address, connectTimeout: CONNECT_TIMEOUT_MS });
    } catch {
      throw unreachable(`cannot reach Temporal at ${address}`, 'start one with npm run demo -- --keep, or fix TEMPORAL_ADDRESS');
    }
    this.connection = connection;
    try {
      await connection.withDeadline(Date.now() + CONNECT_TIMEOUT_MS, () =>
        connection.workflowService.describeNamespace({ namespace: this.namespace }),
      );
    } catch (err) {
      // The raw service call fails with gRPC NOT_FOUND (5) for a namespace that does not exist.
      if ((err as { code?: number }).code === 5) throw toCliError(new NamespaceNotFoundError(this.namespace), this);
      throw toCliError(err, this);
    }
    this.temporalClient = new Client({ connection, namespace: this.namespace });
    return this.temporalClient;
  }

  async txmgr(): Promise<TxmgrClient> {
    const temporal = await this.temporal();
    return new TxmgrClient(temporal, await this.db(), this.taskQueue);
  }

  /** Where the database is, without its password, for messages. */
  get databaseWhere(): string {
    return describeDatabase(this.config.databaseUrl);
  }

  /**
   * Rewrites minor units in a message built elsewhere ("25000 USD", from an activity or
   * the client) into human decimals ("250.00 USD"). Needs the asset scales, so only when
   * the database was already reached; a human amount always has its decimals, so is left alone.
   */
  async humanAmounts(message: string): Promise<string> {
    if (!this.pool) return message;
    const { rows } = await this.pool
      .query<{ code: string; scale: number }>('SELECT code, scale FROM assets')
      .catch(() => ({ rows: [] as Array<{ code: string; scale: number }> }));
    let text = message;
    for (const { code, scale } of rows) {
      text = text.replace(
        new RegExp(`(?<![\\d.])(\\d+) ${code}\\b`, 'g'),
        (_m, minor: string) => `${formatAmount(BigInt(minor), scale)} ${code}`,
      );
    }
    return text;
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
  }
}
