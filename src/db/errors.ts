/**
 * Maps PostgreSQL SQLSTATE codes to typed errors and says whether a retry can help.
 * Transient: serialization failures, deadlocks, lost connections, admin shutdown.
 * Permanent: constraint violations and data errors — retrying would fail the same way.
 */

export type DbErrorKind =
  | 'serialization_failure'
  | 'deadlock'
  | 'connection'
  | 'shutdown'
  | 'unique_violation'
  | 'foreign_key_violation'
  | 'check_violation'
  | 'not_null_violation'
  | 'integrity'
  | 'data'
  | 'query_canceled'
  | 'unknown';

export class DbError extends Error {
  override name = 'DbError';
  constructor(
    readonly kind: DbErrorKind,
    readonly sqlstate: string | undefined,
    readonly retryable: boolean,
    message: string,
    readonly constraint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const BY_CODE: Record<string, { kind: DbErrorKind; retryable: boolean }> = {
  '40001': { kind: 'serialization_failure', retryable: true },
  '40P01': { kind: 'deadlock', retryable: true },
  '57P01': { kind: 'shutdown', retryable: true },
  '57P02': { kind: 'shutdown', retryable: true },
  '57P03': { kind: 'shutdown', retryable: true },
  '57014': { kind: 'query_canceled', retryable: false },
  '23505': { kind: 'unique_violation', retryable: false },
  '23503': { kind: 'foreign_key_violation', retryable: false },
  '23514': { kind: 'check_violation', retryable: false },
  '23502': { kind: 'not_null_violation', retryable: false },
};

// Node-level socket errors mean the connection is gone; a new one may work.
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

// pg and pg-pool raise these without a code. "timeout exceeded when trying to connect" is
// pg-pool's checkout timeout (pool exhausted or server briefly unreachable): transient, so it
// must not become a non-retryable DatabaseRejected that fails the saga.
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|^timeout expired$/i;

interface PgLikeError {
  code?: string;
  constraint?: string;
  message?: string;
}

/** Classifies anything thrown by `pg` into a DbError; a DbError passes through unchanged. */
export function classifyDbError(err: unknown): DbError {
  if (err instanceof DbError) return err;
  const e = (err ?? {}) as PgLikeError;
  const code = typeof e.code === 'string' ? e.code : undefined;
  const message = e.message ?? String(err);
  const opts = { cause: err };
  // Own keys only: a plain-object lookup would find inherited names ('constructor',
  // 'toString') and build a DbError whose kind and retryable are undefined.
  const known = code !== undefined && Object.hasOwn(BY_CODE, code) ? BY_CODE[code] : undefined;
  if (code && known) {
    const { kind, retryable } = known;
    return new DbError(kind, code, retryable, message, e.constraint, opts);
  }
  if (code && CONNECTION_ERRNOS.has(code)) return new DbError('connection', code, true, message, undefined, opts);
  if (code?.startsWith('08')) return new DbError('connection', code, true, message, undefined, opts);
  if (code?.startsWith('23')) return new DbError('integrity', code, false, message, e.constraint, opts);
  if (code?.startsWith('22')) return new DbError('data', code, false, message, undefined, opts);
  if (CONNECTION_MESSAGES.test(message)) {
    return new DbError('connection', code, true, message, undefined, opts);
  }
  return new DbError('unknown', code, false, message, undefined, opts);
}
