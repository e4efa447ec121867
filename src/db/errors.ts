/**
 * Maps PostgreSQL SQLSTATE codes to typed errors and says whether a retry can help.
 * Transient (retryable wherever they occur, at connect or inside a transaction):
 * serialization failures, deadlocks, lost or refused connections, classes 08
 * (connection), 53 (insufficient resources: too many connections, out of memory),
 * 57 (operator intervention: shutdown, statement timeout, cancel), 28 (credentials
 * rejected, e.g. mid-rotation) and 3D000 (database does not exist yet).
 * Permanent: data (22) and integrity (23) errors — retrying would fail the same way.
 */

export type DbErrorKind =
  | 'serialization_failure'
  | 'deadlock'
  | 'connection'
  | 'resources'
  | 'shutdown'
  | 'lock_timeout'
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
  // A statement timeout or a cancel says nothing about the statement: the next try may finish.
  '57014': { kind: 'query_canceled', retryable: true },
  '55P03': { kind: 'lock_timeout', retryable: true },
  // The database does not exist (yet): an operator is creating or restoring it.
  '3D000': { kind: 'connection', retryable: true },
  '23505': { kind: 'unique_violation', retryable: false },
  '23503': { kind: 'foreign_key_violation', retryable: false },
  '23514': { kind: 'check_violation', retryable: false },
  '23502': { kind: 'not_null_violation', retryable: false },
};

/** SQLSTATE classes, by their first two characters, when the exact code is not listed. */
const BY_CLASS: Record<string, { kind: DbErrorKind; retryable: boolean }> = {
  '08': { kind: 'connection', retryable: true },
  '28': { kind: 'connection', retryable: true },
  '53': { kind: 'resources', retryable: true },
  '57': { kind: 'shutdown', retryable: true },
  '22': { kind: 'data', retryable: false },
  '23': { kind: 'integrity', retryable: false },
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
  const own = <T>(table: Record<string, T>, key: string | undefined): T | undefined =>
    key !== undefined && Object.hasOwn(table, key) ? table[key] : undefined;
  const sqlstate = code && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const known = own(BY_CODE, sqlstate) ?? own(BY_CLASS, sqlstate?.slice(0, 2));
  if (sqlstate && known) {
    const { kind, retryable } = known;
    const constraint = kind === 'data' || kind === 'connection' ? undefined : e.constraint;
    return new DbError(kind, sqlstate, retryable, message, constraint, opts);
  }
  if (code && CONNECTION_ERRNOS.has(code)) return new DbError('connection', code, true, message, undefined, opts);
  if (CONNECTION_MESSAGES.test(message)) {
    return new DbError('connection', code, true, message, undefined, opts);
  }
  return new DbError('unknown', code, false, message, undefined, opts);
}

/**
 * What a database failure becomes when it leaves withTransaction, the same at
 * `pool.connect()` and inside the transaction: a classified DbError, or the
 * original error when the classifier does not know it (a bug stays visible as itself).
 */
export function dbFailure(err: unknown): unknown {
  const classified = classifyDbError(err);
  return classified.kind === 'unknown' && !(err instanceof DbError) ? err : classified;
}
