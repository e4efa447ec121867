import { classifyDbError, dbFailure, DbError, type DbErrorKind } from '../../src/db/errors';

/** What `pg` throws: an Error carrying the SQLSTATE in `code` (and the constraint, when there is one). */
function pgError(code: string | undefined, message = `error ${code}`, constraint?: string): Error {
  return Object.assign(new Error(message), { code, constraint, severity: 'ERROR' });
}

describe('classifyDbError', () => {
  test.each<[string, string, DbErrorKind, boolean]>([
    // Transient: a new try can succeed.
    ['serialization failure', '40001', 'serialization_failure', true],
    ['deadlock', '40P01', 'deadlock', true],
    ['connection exception', '08000', 'connection', true],
    ['connection does not exist', '08003', 'connection', true],
    ['connection failure', '08006', 'connection', true],
    ['client unable to establish connection', '08001', 'connection', true],
    ['admin shutdown', '57P01', 'shutdown', true],
    ['crash shutdown', '57P02', 'shutdown', true],
    ['cannot connect now', '57P03', 'shutdown', true],
    ['statement timeout / cancel', '57014', 'query_canceled', true],
    ['idle session timeout (class 57)', '57P05', 'shutdown', true],
    ['too many connections', '53300', 'resources', true],
    ['out of memory', '53200', 'resources', true],
    ['disk full', '53100', 'resources', true],
    ['password rejected during a credential rotation', '28P01', 'connection', true],
    ['invalid authorization', '28000', 'connection', true],
    ['database does not exist (yet)', '3D000', 'connection', true],
    ['lock timeout', '55P03', 'lock_timeout', true],
    // Permanent: the same statement would fail the same way.
    ['unique violation', '23505', 'unique_violation', false],
    ['foreign key violation', '23503', 'foreign_key_violation', false],
    ['check violation', '23514', 'check_violation', false],
    ['not null violation', '23502', 'not_null_violation', false],
    ['exclusion violation', '23P01', 'integrity', false],
    ['restrict violation', '23001', 'integrity', false],
    ['numeric value out of range', '22003', 'data', false],
    ['invalid text representation', '22P02', 'data', false],
    ['division by zero', '22012', 'data', false],
    ['string too long', '22001', 'data', false],
    // Unknown codes are not retried: a retry loop on an unexplained error hides it.
    ['syntax error', '42601', 'unknown', false],
    ['undefined table', '42P01', 'unknown', false],
    ['insufficient privilege', '42501', 'unknown', false],
  ])('%s (%s) → %s, retryable %s', (_name, code, kind, retryable) => {
    const original = pgError(code, `boom ${code}`, 'some_constraint');
    const classified = classifyDbError(original);
    expect(classified).toBeInstanceOf(DbError);
    expect(classified).toMatchObject({ kind, retryable, sqlstate: code, message: `boom ${code}` });
    expect(classified.cause).toBe(original);
  });

  test('keeps the violated constraint for integrity errors', () => {
    expect(classifyDbError(pgError('23505', 'duplicate key', 'transfers_pkey')).constraint).toBe('transfers_pkey');
    expect(classifyDbError(pgError('23514', 'check', 'accounts_debits_within_credits')).constraint).toBe(
      'accounts_debits_within_credits',
    );
    expect(classifyDbError(pgError('23P01', 'excl', 'no_overlap')).constraint).toBe('no_overlap');
  });

  test.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'])(
    'a socket error %s is a retryable connection error',
    (errno) => {
      expect(classifyDbError(pgError(errno))).toMatchObject({ kind: 'connection', retryable: true, sqlstate: errno });
    },
  );

  test.each([
    'Connection terminated unexpectedly',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
    'timeout exceeded when trying to connect', // pg-pool checkout timeout: the pool is exhausted
    'timeout expired', // pg client connect timeout
  ])('pg\'s code-less "%s" is a retryable connection error', (message) => {
    expect(classifyDbError(new Error(message))).toMatchObject({ kind: 'connection', retryable: true, sqlstate: undefined });
  });

  test.each(['53300', '28P01', '3D000', '57014', '08006', '40001', '23505', '22P02', '42601'])(
    'dbFailure (%s) gives the same answer at connect time and inside a transaction',
    (code) => {
      // Both paths of withTransaction throw dbFailure(err); a known code becomes its DbError.
      const original = pgError(code);
      const failure = dbFailure(original);
      if (code === '42601') expect(failure).toBe(original);
      else expect(failure).toMatchObject({ sqlstate: code, retryable: classifyDbError(original).retryable });
    },
  );

  test.each(['22', '23'])('class %s codes are the only permanent SQLSTATE classes', (cls) => {
    expect(classifyDbError(pgError(`${cls}999`))).toMatchObject({ retryable: false });
  });

  test('a DbError passes through unchanged', () => {
    const once = classifyDbError(pgError('40001'));
    expect(classifyDbError(once)).toBe(once);
  });

  test.each<[string, unknown, string]>([
    ['a plain Error', new Error('something else'), 'something else'],
    ['a string', 'just a string', 'just a string'],
    ['null', null, 'null'],
    ['undefined', undefined, 'undefined'],
    ['a numeric code', Object.assign(new Error('numeric'), { code: 40001 }), 'numeric'],
    // Codes are looked up as own keys: an inherited property name is not a known SQLSTATE.
    ['a code named like an Object method', Object.assign(new Error('proto'), { code: 'constructor' }), 'proto'],
    ['a code named toString', Object.assign(new Error('proto2'), { code: 'toString' }), 'proto2'],
  ])('%s is unknown and not retryable', (_name, err, message) => {
    const classified = classifyDbError(err);
    expect(classified).toBeInstanceOf(DbError);
    expect(classified).toMatchObject({ kind: 'unknown', retryable: false, message });
  });
});
