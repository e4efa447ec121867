import { ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { FastifyError } from 'fastify';
import { DomainError } from '../domain/errors';

/** The one error body of the API: `{ error: { type, message, field } }`, never a stack trace or SQL. */
export interface ErrorBody {
  error: { type: string; message: string; field: string | null };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly type: string,
    message: string,
    readonly field: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = type;
  }
}

const DOMAIN_STATUS: Record<string, number> = {
  ValidationError: 422,
  NotFound: 404,
  IdempotencyConflict: 409,
  InvalidState: 409,
  InsufficientFunds: 422,
  ComplianceRejected: 422,
  HoldNotOpen: 409,
  MarketHalted: 409,
  ConfigRejected: 422,
};

/** The field a domain error names: its details, else the text before the first colon ("asset: ..."). */
function fieldOf(err: DomainError): string | null {
  const detail = err.details?.field;
  if (typeof detail === 'string') return detail;
  const m = /^(?:invalid [a-z ]+: )?([A-Za-z_][A-Za-z0-9_.]*): /.exec(err.message);
  return m?.[1] ?? null;
}

const FASTIFY_CODES: Record<string, [number, string, string, string | null]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PayloadTooLarge', 'the request body is larger than the limit', null],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UnsupportedMediaType', 'send the body as application/json', 'content-type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'MalformedRequest', 'the content-length does not match the body', null],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'MalformedJson', 'the body is empty but its content-type is application/json', null],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'MalformedJson', 'the body is not valid JSON', null],
};

/** Maps anything a route throws to a status and the error body; unknown errors say nothing about internals. */
export function toApiError(err: unknown, requestId: string): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof DomainError) return new ApiError(DOMAIN_STATUS[err.type] ?? 422, err.type, err.message, fieldOf(err));
  if (err instanceof WorkflowNotFoundError)
    return new ApiError(404, 'NotFound', `no saga with workflow id ${err.workflowId}`, 'id');
  if (err instanceof ApplicationFailure && err.type) {
    return new ApiError(DOMAIN_STATUS[err.type] ?? 422, err.type, err.message);
  }
  const f = err as FastifyError & { validation?: unknown };
  if (typeof f?.code === 'string') {
    const known = FASTIFY_CODES[f.code];
    if (known) return new ApiError(known[0], known[1], known[2], known[3]);
  }
  if (err instanceof SyntaxError || (f?.statusCode === 400 && /JSON|prototype|constructor/i.test(f.message ?? ''))) {
    if (/prototype|constructor/i.test(f.message ?? '')) {
      return new ApiError(422, 'ValidationError', 'the body must not hold __proto__ or constructor keys', '__proto__');
    }
    return new ApiError(400, 'MalformedJson', 'the body is not valid JSON', null);
  }
  if (f?.statusCode === 429) return new ApiError(429, 'RateLimited', f.message, null);
  if (err instanceof ServiceError) {
    return new ApiError(503, 'Unavailable', 'Temporal did not answer; try again shortly', null);
  }
  const pg = err as { code?: string };
  if (typeof pg?.code === 'string' && /^(ECONN|57P|08)/.test(pg.code)) {
    return new ApiError(503, 'Unavailable', 'PostgreSQL did not answer; try again shortly', null);
  }
  if (typeof f?.statusCode === 'number' && f.statusCode >= 400 && f.statusCode < 500) {
    return new ApiError(f.statusCode, 'BadRequest', 'the request could not be read', null);
  }
  return new ApiError(500, 'InternalError', `the server failed to answer this request (request id ${requestId})`, null);
}

export const errorBody = (e: ApiError): ErrorBody => ({ error: { type: e.type, message: e.message, field: e.field } });
