import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import type { Logger } from '../logger';
import {
  claimIdempotencyKey,
  completeIdempotency,
  findIdempotency,
  insertAudit,
  releaseIdempotency,
} from '../db/queries/api-requests';
import { ApiError } from './errors';

const IN_FLIGHT_WAIT_MS = 10_000;
/** Longer than any request may take (the longest wait is 300 s): a claim this old was abandoned. */
const ABANDONED_AFTER_SECONDS = 600;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Idempotency-Key handling, stored in PostgreSQL: the first request with a key runs and
 * its successful response is kept; the same key with the same request gets that response
 * again; with a different request, 409. Failed answers are not kept (the key may be retried).
 */
export function registerIdempotency(app: FastifyInstance, pool: Pool, logger: Logger): void {
  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.idempotencyKey;
    const principal = request.principal;
    if (!key || !principal || !request.requestHash) return;
    const path = request.url;
    if (
      await claimIdempotencyKey(pool, { apiKeyId: principal.keyId, key, method: request.method, path, hash: request.requestHash })
    ) {
      request.idempotencyClaimed = true;
      return;
    }
    const deadline = Date.now() + IN_FLIGHT_WAIT_MS;
    for (;;) {
      const first = await findIdempotency(pool, principal.keyId, key);
      if (!first) {
        // The first request failed and freed the key meanwhile: this one may run.
        if (
          await claimIdempotencyKey(pool, {
            apiKeyId: principal.keyId,
            key,
            method: request.method,
            path,
            hash: request.requestHash,
          })
        ) {
          request.idempotencyClaimed = true;
          return;
        }
        continue;
      }
      if (!first.request_hash.equals(request.requestHash)) {
        const same = first.request_method === request.method && first.request_path === path;
        throw new ApiError(
          409,
          'IdempotencyConflict',
          `Idempotency-Key ${key} was first used for ${first.request_method} ${first.request_path}` +
            `${same ? ' with a different body' : ''}; a different request needs a new key`,
          'Idempotency-Key',
        );
      }
      if (first.status_code !== null && first.response_body !== null) {
        request.auditTarget = replayedTarget(first.response_body);
        return reply
          .code(first.status_code)
          .header('content-type', 'application/json; charset=utf-8')
          .header('idempotent-replayed', 'true')
          .send(first.response_body);
      }
      if (first.age_seconds > ABANDONED_AFTER_SECONDS) {
        // The process that claimed it died before answering: free the claim, then claim it anew.
        await releaseIdempotency(pool, principal.keyId, key);
        continue;
      }
      if (Date.now() > deadline) {
        throw new ApiError(
          409,
          'IdempotencyConflict',
          `a request with Idempotency-Key ${key} is still being answered; retry it shortly`,
          'Idempotency-Key',
        );
      }
      await sleep(100);
    }
  });

  // Before the answer leaves: keep a success under its key (or free the key), then the audit row.
  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const principal = request.principal;
    const key = request.idempotencyKey;
    if (request.idempotencyClaimed && principal && key) {
      const ok = reply.statusCode >= 200 && reply.statusCode < 300 && typeof payload === 'string';
      await (
        ok
          ? completeIdempotency(pool, principal.keyId, key, reply.statusCode, payload)
          : releaseIdempotency(pool, principal.keyId, key)
      ).catch((err: unknown) => logger.error({ err, key }, 'could not record the idempotency key'));
    }
    if (request.method === 'POST' && principal) {
      await insertAudit(pool, {
        apiKeyId: principal.keyId,
        method: request.method,
        route: request.routeOptions.url ?? request.url.split('?')[0] ?? '',
        target: request.auditTarget ?? null,
        statusCode: reply.statusCode,
        outcome: reply.getHeader('idempotent-replayed') ? 'replayed' : auditOutcome(reply.statusCode, payload),
        requestId: String(request.id),
      }).catch((err: unknown) => logger.error({ err }, 'could not write the audit row'));
    }
    return payload;
  });
}

/** What a kept answer acted on (its workflow id), so a replay's audit row names it too. */
function replayedTarget(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as { workflowId?: unknown };
    return typeof parsed.workflowId === 'string' ? parsed.workflowId : undefined;
  } catch {
    return undefined;
  }
}

/** "ok", or the error type of the answer (never its message: it may quote the request). */
function auditOutcome(statusCode: number, payload: unknown): string {
  if (statusCode < 400) return 'ok';
  if (typeof payload === 'string') {
    const m = /"type":"([A-Za-z]+)"/.exec(payload);
    if (m?.[1]) return m[1];
  }
  return `http_${statusCode}`;
}
