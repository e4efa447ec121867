import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../src/activities';
import { DomainError } from '../../src/domain/errors';
import { DbError } from '../../src/db/errors';
import { withTransaction, type Isolation } from '../../src/db/transaction';
import { createLogger } from '../../src/logger';
import { count } from '../helpers/fixtures';
import { useTestContext } from '../helpers/context';

// withTransaction against the file's own PostgreSQL database, on scratch tables.
const ctx = useTestContext();
// Activities below fail on purpose; their warnings would only be noise in a passing run.
const quiet = createLogger('silent', 'txmgr-test');

/** A pool whose idle clients may be killed by the test (DROP DATABASE … WITH (FORCE)) without an unhandled 'error'. */
function scratchPool(connectionString: string, max: number, extra: { connectionTimeoutMillis?: number } = {}): Pool {
  const pool = new Pool({ connectionString, max, ...extra });
  pool.on('error', () => undefined);
  return pool;
}

beforeAll(async () => {
  await ctx.pool.query('CREATE TABLE tx_counter (id text PRIMARY KEY, value integer NOT NULL)');
  await ctx.pool.query(
    'CREATE TABLE tx_on_call (shift text NOT NULL, doctor text NOT NULL, on_call boolean NOT NULL, PRIMARY KEY (shift, doctor))',
  );
});

/** Resolves for everyone once `n` callers are waiting: makes two transactions interleave deterministically. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return () => {
    if (++arrived >= n) open();
    return opened;
  };
}

interface MetricRow {
  success: boolean;
  error: string | null;
  sqlstate: string | null;
  attempt: number;
  isolation: string;
}
const metrics = async (operation: string) =>
  (
    await ctx.pool.query<MetricRow>(
      'SELECT success, error, sqlstate, attempt, isolation FROM transaction_metrics WHERE operation = $1 ORDER BY id',
      [operation],
    )
  ).rows;

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    (value) => {
      throw new Error(`expected a rejection, got ${String(value)}`);
    },
    (err: unknown) => err,
  );
}

const newCounter = async () => {
  const id = randomUUID();
  await ctx.pool.query('INSERT INTO tx_counter (id, value) VALUES ($1, 0)', [id]);
  return id;
};
const counterValue = async (id: string) =>
  (await ctx.pool.query<{ value: number }>('SELECT value FROM tx_counter WHERE id = $1', [id])).rows[0]?.value;

/**
 * Read-then-write on one row by two serializable transactions that both read
 * before either writes: the second writer gets a real 40001.
 */
function racingIncrements(operation: string, counterId: string, maxLocalRetries?: number) {
  const bothRead = barrier(2);
  const tries = { total: 0 };
  const increment = () => {
    let mine = 0;
    return withTransaction(
      ctx.pool,
      operation,
      async (tx) => {
        tries.total++;
        const { rows } = await tx.query<{ value: number }>('SELECT value FROM tx_counter WHERE id = $1', [counterId]);
        if (++mine === 1) await bothRead();
        const next = (rows[0]?.value ?? 0) + 1;
        await tx.query('UPDATE tx_counter SET value = $2 WHERE id = $1', [counterId, next]);
        return next;
      },
      { isolation: 'serializable', maxLocalRetries },
    );
  };
  return { outcomes: Promise.allSettled([increment(), increment()]), tries };
}

describe('withTransaction', () => {
  test.each<[Isolation]>([['read committed'], ['repeatable read'], ['serializable']])(
    'runs at the requested isolation (%s)',
    async (isolation) => {
      const operation = `isolation-${randomUUID()}`;
      const seen = await withTransaction(
        ctx.pool,
        operation,
        async (tx) =>
          (await tx.query<{ transaction_isolation: string }>('SHOW transaction_isolation')).rows[0]?.transaction_isolation,
        { isolation },
      );
      expect(seen).toBe(isolation);
      expect(await metrics(operation)).toEqual([{ success: true, error: null, sqlstate: null, attempt: 1, isolation }]);
    },
  );

  test('a real serialization failure (40001) is retried locally; the failed try and the retry each get a metrics row', async () => {
    const counterId = await newCounter();
    const operation = `increment-${randomUUID()}`;
    const { outcomes, tries } = racingIncrements(operation, counterId);
    const results = await outcomes;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const values = results.map((r) => (r as PromiseFulfilledResult<number>).value).sort();
    expect(values).toEqual([1, 2]); // the retry saw the winner's write: no lost update
    expect(await counterValue(counterId)).toBe(2);
    expect(tries.total).toBe(3);

    const rows = await metrics(operation);
    expect(rows).toHaveLength(3);
    const failed = rows.filter((r) => !r.success);
    expect(failed).toEqual([
      {
        success: false,
        error: expect.stringMatching(/could not serialize access/),
        sqlstate: '40001',
        attempt: 1,
        isolation: 'serializable',
      },
    ]);
    // Both successes belong to activity attempt 1; the one that lost the race committed on its first local retry.
    expect(rows.filter((r) => r.success).map((r) => r.attempt)).toEqual([1, 1]);
    const retries = await ctx.pool.query<{ local_retry: number; success: boolean }>(
      'SELECT local_retry, success FROM transaction_metrics WHERE operation = $1 ORDER BY local_retry, success',
      [operation],
    );
    expect(retries.rows).toEqual([
      { local_retry: 0, success: false },
      { local_retry: 0, success: true },
      { local_retry: 1, success: true },
    ]);
  });

  test('when the local retries are used up, the 40001 surfaces as a retryable DbError (Temporal retries the activity)', async () => {
    const counterId = await newCounter();
    const operation = `increment-once-${randomUUID()}`;
    const { outcomes, tries } = racingIncrements(operation, counterId, 0);
    const results = await outcomes;
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toBeInstanceOf(DbError);
    expect(rejected[0]?.reason).toMatchObject({ kind: 'serialization_failure', sqlstate: '40001', retryable: true });
    expect(tries.total).toBe(2);
    expect(await counterValue(counterId)).toBe(1);
    expect((await metrics(operation)).map((r) => [r.success, r.sqlstate])).toEqual(
      expect.arrayContaining([
        [true, null],
        [false, '40001'],
      ]),
    );
  });

  test('write skew is caught at commit under serializable and the retry decides on fresh data', async () => {
    // Two doctors on call; each transaction lets its doctor go only if someone else stays.
    const shift = randomUUID();
    await ctx.pool.query(`INSERT INTO tx_on_call VALUES ($1, 'alice', true), ($1, 'bob', true)`, [shift]);
    const operation = `on-call-${randomUUID()}`;
    const bothRead = barrier(2);
    const goOffCall = (doctor: string) => {
      let mine = 0;
      return withTransaction(
        ctx.pool,
        operation,
        async (tx: PoolClient) => {
          const { rows } = await tx.query<{ n: number }>(
            'SELECT COUNT(*)::int AS n FROM tx_on_call WHERE shift = $1 AND on_call',
            [shift],
          );
          if (++mine === 1) await bothRead();
          if ((rows[0]?.n ?? 0) < 2) return false;
          await tx.query('UPDATE tx_on_call SET on_call = false WHERE shift = $1 AND doctor = $2', [shift, doctor]);
          return true;
        },
        { isolation: 'serializable' },
      );
    };
    const results = await Promise.all([goOffCall('alice'), goOffCall('bob')]);
    expect([...results].sort()).toEqual([false, true]);
    expect(await count(ctx.pool, 'SELECT 1 FROM tx_on_call WHERE shift = $1 AND on_call', [shift])).toBe(1);
    expect((await metrics(operation)).filter((r) => r.sqlstate === '40001')).toHaveLength(1);
  });

  test('a real deadlock (40P01) is retried locally and both transactions commit', async () => {
    const [a, b] = [await newCounter(), await newCounter()];
    const operation = `deadlock-${randomUUID()}`;
    const bothLocked = barrier(2);
    // Opposite lock order on purpose — exactly what the ledger's id-ordered locking avoids.
    const bump = (first: string, second: string) => {
      let mine = 0;
      return withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query('UPDATE tx_counter SET value = value + 1 WHERE id = $1', [first]);
        if (++mine === 1) await bothLocked();
        await tx.query('UPDATE tx_counter SET value = value + 1 WHERE id = $1', [second]);
      });
    };
    await Promise.all([bump(a, b), bump(b, a)]);
    expect([await counterValue(a), await counterValue(b)]).toEqual([2, 2]);
    const rows = await metrics(operation);
    expect(rows.filter((r) => !r.success)).toEqual([
      {
        success: false,
        error: expect.stringMatching(/deadlock detected/),
        sqlstate: '40P01',
        attempt: 1,
        isolation: 'read committed',
      },
    ]);
    expect(rows.filter((r) => r.success)).toHaveLength(2);
  });

  test('a unique violation (23505) is a non-retryable DbError, tried once, and rolls the whole transaction back', async () => {
    const existing = await newCounter();
    const fresh = randomUUID();
    const operation = `duplicate-${randomUUID()}`;
    let tries = 0;
    const err = await rejection(
      withTransaction(
        ctx.pool,
        operation,
        async (tx) => {
          tries++;
          await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [fresh]);
          await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [existing]);
        },
        { isolation: 'serializable' },
      ),
    );
    expect(err).toBeInstanceOf(DbError);
    expect(err).toMatchObject({ kind: 'unique_violation', sqlstate: '23505', retryable: false, constraint: 'tx_counter_pkey' });
    expect(tries).toBe(1);
    expect(await count(ctx.pool, 'SELECT 1 FROM tx_counter WHERE id = $1', [fresh])).toBe(0);
    expect(await metrics(operation)).toEqual([
      {
        success: false,
        error: expect.stringMatching(/duplicate key value/),
        sqlstate: '23505',
        attempt: 1,
        isolation: 'serializable',
      },
    ]);
  });

  test('a domain error thrown inside fn rolls back and passes through unchanged', async () => {
    const fresh = randomUUID();
    const operation = `domain-${randomUUID()}`;
    const domainError = new DomainError('InsufficientFunds', 'account x has 0 available, 5 needed', { accountId: 'x' });
    let tries = 0;
    const err = await rejection(
      withTransaction(
        ctx.pool,
        operation,
        async (tx) => {
          tries++;
          await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [fresh]);
          throw domainError;
        },
        { isolation: 'serializable', attempt: 4 },
      ),
    );
    expect(err).toBe(domainError);
    expect(tries).toBe(1);
    expect(await count(ctx.pool, 'SELECT 1 FROM tx_counter WHERE id = $1', [fresh])).toBe(0);
    expect(await metrics(operation)).toEqual([
      {
        success: false,
        error: 'InsufficientFunds: account x has 0 available, 5 needed',
        sqlstate: null,
        attempt: 4,
        isolation: 'serializable',
      },
    ]);
  });

  test('an error the classifier does not know (a bug in fn) passes through unchanged and is not retried', async () => {
    const operation = `bug-${randomUUID()}`;
    const bug = new TypeError('cannot read properties of undefined');
    let tries = 0;
    const err = await rejection(
      withTransaction(ctx.pool, operation, async () => {
        tries++;
        throw bug;
      }),
    );
    expect(err).toBe(bug);
    expect(tries).toBe(1);
    expect(await metrics(operation)).toEqual([
      expect.objectContaining({ success: false, error: 'TypeError: cannot read properties of undefined' }),
    ]);
  });

  test('fn rejecting with no reason at all is still a failure, not a silent success', async () => {
    const fresh = randomUUID();
    const operation = `undefined-${randomUUID()}`;
    const settled = await Promise.allSettled([
      withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [fresh]);
        // A library rejecting without a reason: exactly the case under test.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        return Promise.reject(undefined);
      }),
    ]);
    expect(settled[0]?.status).toBe('rejected');
    expect(await count(ctx.pool, 'SELECT 1 FROM tx_counter WHERE id = $1', [fresh])).toBe(0);
    expect(await metrics(operation)).toEqual([expect.objectContaining({ success: false })]);
  });

  test('fn that catches a statement error and returns is a failure: its transaction was rolled back, not committed', async () => {
    const fresh = randomUUID();
    const operation = `swallowed-${randomUUID()}`;
    const err = await rejection(
      withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [fresh]);
        await tx.query('SELECT 1 / 0').catch(() => undefined);
        return 'done';
      }),
    );
    expect(String(err)).toMatch(/statement error was caught.*rolled back/);
    expect(await count(ctx.pool, 'SELECT 1 FROM tx_counter WHERE id = $1', [fresh])).toBe(0);
    expect(await metrics(operation)).toEqual([
      expect.objectContaining({ success: false, error: expect.stringMatching(/rolled back/) }),
    ]);
  });

  test('the metrics row commits with the work it measures; a row the database refuses never costs the work', async () => {
    // A trigger notes the (top-level) transaction each metrics row is written in, and refuses one operation's rows.
    const refused = `refused-${randomUUID()}`;
    await ctx.pool.query('CREATE TABLE tx_metric_xids (operation text NOT NULL, xid text NOT NULL)');
    await ctx.pool.query(`CREATE FUNCTION tx_watch_metric() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.operation = '${refused}' THEN RAISE EXCEPTION 'metrics refused'; END IF;
        INSERT INTO tx_metric_xids VALUES (NEW.operation, pg_current_xact_id()::text);
        RETURN NEW;
      END $$`);
    await ctx.pool.query(
      'CREATE TRIGGER tx_watch_metric BEFORE INSERT ON transaction_metrics FOR EACH ROW EXECUTE FUNCTION tx_watch_metric()',
    );
    try {
      const operation = `measured-${randomUUID()}`;
      const xid = await withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [randomUUID()]);
        return (await tx.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]?.xid;
      });
      const { rows } = await ctx.pool.query('SELECT xid FROM tx_metric_xids WHERE operation = $1', [operation]);
      expect(rows).toEqual([{ xid }]);

      const kept = randomUUID();
      await withTransaction(ctx.pool, refused, (tx) => tx.query('INSERT INTO tx_counter (id, value) VALUES ($1, 1)', [kept]));
      expect(await counterValue(kept)).toBe(1);
    } finally {
      await ctx.pool.query(
        'DROP TRIGGER tx_watch_metric ON transaction_metrics; DROP FUNCTION tx_watch_metric(); DROP TABLE tx_metric_xids',
      );
    }
  });

  test('a connection killed mid-transaction is a retryable error, the broken client is discarded and the pool keeps working', async () => {
    const operation = `killed-${randomUUID()}`;
    const err = await rejection(
      withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query('SELECT pg_terminate_backend(pg_backend_pid())');
      }),
    );
    expect(err).toBeInstanceOf(DbError);
    expect(err).toMatchObject({ retryable: true });
    expect(['shutdown', 'connection']).toContain((err as DbError).kind);
    // Every pooled client still works: the dead one was not handed back.
    const clients = await Promise.all(Array.from({ length: 5 }, () => ctx.pool.connect()));
    try {
      for (const c of clients) expect((await c.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      for (const c of clients) c.release();
    }
    expect(await metrics(operation)).toEqual([expect.objectContaining({ success: false })]);
  });

  test('an exhausted pool (checkout timeout) is a retryable connection error, so an activity is retried rather than failed', async () => {
    const tiny = scratchPool(ctx.databaseUrl, 1, { connectionTimeoutMillis: 100 });
    const busy = await tiny.connect();
    try {
      const err = await rejection(withTransaction(tiny, `exhausted-${randomUUID()}`, async () => 'never'));
      expect(err).toBeInstanceOf(DbError);
      expect(err).toMatchObject({ kind: 'connection', retryable: true });
      // At the activity boundary a retryable DbError stays retryable (not a non-retryable DatabaseRejected).
      const activityErr = await rejection(createActivities({ pool: tiny, logger: quiet }).getAccount(randomUUID()));
      expect(activityErr).not.toBeInstanceOf(ApplicationFailure);
      expect(activityErr).toMatchObject({ retryable: true });
    } finally {
      busy.release();
      await tiny.end();
    }
  });
});

describe('failures at pool.connect() are classified like failures inside a transaction', () => {
  /** The error withTransaction rejects with, and what the activity boundary makes of the same failure. */
  async function connectFailure(pool: Pool): Promise<{ err: unknown; activityErr: unknown }> {
    const err = await rejection(withTransaction(pool, `connect-${randomUUID()}`, async () => 'never'));
    const activityErr = await rejection(createActivities({ pool, logger: quiet }).getAccount(randomUUID()));
    return { err, activityErr };
  }

  function expectRetryable({ err, activityErr }: { err: unknown; activityErr: unknown }, sqlstate: string): void {
    expect(err).toBeInstanceOf(DbError);
    expect(err).toMatchObject({ sqlstate, retryable: true });
    // Not a non-retryable DatabaseRejected: Temporal retries the activity.
    expect(activityErr).not.toBeInstanceOf(ApplicationFailure);
    expect(activityErr).toMatchObject({ sqlstate, retryable: true });
  }

  const urlFor = (patch: { database?: string; user?: string; password?: string }) => {
    const u = new URL(ctx.databaseUrl);
    if (patch.database) u.pathname = `/${patch.database}`;
    if (patch.user) u.username = patch.user;
    if (patch.password) u.password = patch.password;
    return u.toString();
  };

  test('a database that does not exist yet (3D000) is retryable, and the same pool works once it is created', async () => {
    const name = `t_not_yet_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const pool = scratchPool(urlFor({ database: name }), 2);
    try {
      expectRetryable(await connectFailure(pool), '3D000');
      await ctx.pool.query(`CREATE DATABASE ${name}`);
      expect(await withTransaction(pool, 'created', async (tx) => (await tx.query('SELECT 1 AS one')).rows)).toEqual([
        { one: 1 },
      ]);
    } finally {
      await pool.end();
      await ctx.pool.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });

  test('too many connections (53300) and a rejected password (28P01) are retryable', async () => {
    const role = `t_role_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const password = randomUUID();
    await ctx.pool.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' CONNECTION LIMIT 1`);
    await ctx.pool.query(`GRANT CONNECT ON DATABASE ${ctx.databaseName} TO ${role}`);
    const holder = scratchPool(urlFor({ user: role, password }), 1);
    const second = scratchPool(urlFor({ user: role, password }), 1);
    const wrong = scratchPool(urlFor({ user: role, password: 'rotated-away' }), 1);
    try {
      const held = await holder.connect();
      try {
        expectRetryable(await connectFailure(second), '53300');
      } finally {
        held.release();
      }
      const { rows } = await ctx.pool.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM pg_hba_file_rules WHERE auth_method IN ('md5', 'scram-sha-256', 'password')`,
      );
      // 28P01 needs password authentication; a trust-only cluster accepts any password.
      if ((rows[0]?.n ?? 0) > 0) expectRetryable(await connectFailure(wrong), '28P01');
    } finally {
      await Promise.all([holder.end(), second.end(), wrong.end()]);
      await ctx.pool.query(`REVOKE CONNECT ON DATABASE ${ctx.databaseName} FROM ${role}`);
      await ctx.pool.query(`DROP ROLE IF EXISTS ${role}`);
    }
  });

  test('a statement timeout (57014) inside a transaction is retryable, also at the activity boundary', async () => {
    const operation = `timeout-${randomUUID()}`;
    const err = await rejection(
      withTransaction(ctx.pool, operation, async (tx) => {
        await tx.query(`SET LOCAL statement_timeout = '50ms'`);
        await tx.query('SELECT pg_sleep(5)');
      }),
    );
    expect(err).toBeInstanceOf(DbError);
    expect(err).toMatchObject({ kind: 'query_canceled', sqlstate: '57014', retryable: true });
    expect(await metrics(operation)).toEqual([expect.objectContaining({ success: false, sqlstate: '57014' })]);
  });
});
