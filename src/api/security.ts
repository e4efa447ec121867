import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { authenticateApiKey, type ApiPrincipal, type ApiScope } from '../client/api-keys';
import { ApiError } from './errors';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The scope a key needs for the route; admin has every scope. */
    scope?: ApiScope;
  }
  interface FastifyRequest {
    principal?: ApiPrincipal;
    /** sha256 of the method, path with query and the canonical JSON body: what an idempotency key is bound to. */
    requestHash?: Buffer;
    idempotencyKey?: string;
    /** Set once this request claimed its idempotency key (and must complete or release it). */
    idempotencyClaimed?: boolean;
    /** What a state-changing request acts on, for the audit row. */
    auditTarget?: string;
  }
}

function presentedKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const header = request.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

/** Every /api/v1 request names a valid, unrevoked key holding the route's scope. */
export function registerAuthentication(app: FastifyInstance, pool: Pool): void {
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const key = presentedKey(request);
    if (!key) {
      throw new ApiError(
        401,
        'Unauthorized',
        'send an API key as Authorization: Bearer <key> (create one with txmgr apikey create)',
        'authorization',
        {
          'www-authenticate': 'Bearer',
        },
      );
    }
    const principal = await authenticateApiKey(pool, key);
    if (!principal) {
      throw new ApiError(401, 'Unauthorized', 'the API key is unknown, wrong or revoked', 'authorization', {
        'www-authenticate': 'Bearer error="invalid_token"',
      });
    }
    request.principal = principal;
    const needed = request.routeOptions.config.scope;
    if (needed && !principal.scopes.includes(needed) && !principal.scopes.includes('admin')) {
      throw new ApiError(
        403,
        'Forbidden',
        `this route needs the ${needed} scope; the key has ${principal.scopes.join(', ')}`,
        'authorization',
      );
    }
  });
}

/** JSON with its object keys sorted, so the same body always hashes the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,255}$/;

/** Every POST carries an Idempotency-Key; its request hash is taken from the body as sent, before validation. */
export function registerIdempotencyKeyCheck(app: FastifyInstance): void {
  app.addHook('preValidation', async (request: FastifyRequest, _reply: FastifyReply) => {
    if (request.method !== 'POST') return;
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') {
      throw new ApiError(422, 'ValidationError', 'every POST needs an Idempotency-Key header (e.g. a UUID)', 'Idempotency-Key');
    }
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new ApiError(422, 'ValidationError', 'Idempotency-Key must be 1-255 letters, digits or . _ : -', 'Idempotency-Key');
    }
    request.idempotencyKey = key;
    request.requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${canonical(request.body ?? null)}`)
      .digest();
  });
}
