import type { FastifyInstance, RawServerDefault } from 'fastify';
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from 'pg';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { TxmgrClient } from '../client';
import type { Logger } from '../logger';
import type { ApiConfig } from './config';

/** What every route module gets: the typed client and settings. */
export interface ApiDeps {
  client: TxmgrClient;
  config: ApiConfig;
  logger: Logger;
  /** The custody database, for in-doubt recovery of 2pc transactions (CUSTODY_DATABASE_URL); absent: the ledger only. */
  custodyPool?: Pool;
  /** The key sealing withdrawals' one-time codes; default TXMGR_TOTP_KEY. */
  totpKey?: Buffer;
}

export type ApiApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, ZodTypeProvider>;

/** The bounded wait a request asked for, in seconds; undefined for no wait. */
export function waitSeconds(config: ApiConfig, q: { wait?: 'true' | 'false'; waitSeconds?: number }): number | undefined {
  if (q.wait !== 'true') return undefined;
  return Math.min(q.waitSeconds ?? config.maxWaitSeconds, config.maxWaitSeconds);
}

export const API_PREFIX = '/api/v1/transactions';
export const statusUrl = (workflowId: string) => `${API_PREFIX}/status/${encodeURIComponent(workflowId)}`;
