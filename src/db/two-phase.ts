import type { Pool, PoolClient } from 'pg';
import { DomainError } from '../domain/errors';
import { GID_PATTERN } from '../domain/tx-ids';
import { deferNotify, notifyChanges } from './changes';
import { classifyDbError, dbFailure } from './errors';
import { currentLockTimeout } from './transaction';

/**
 * PostgreSQL two-phase commit for one participant database. A prepared transaction is
 * detached from the session that prepared it: the connection goes back to the pool at once,
 * and COMMIT PREPARED / ROLLBACK PREPARED may run from any connection to the same database.
 * Every step is idempotent, so a retry after a lost reply finds the outcome:
 * - the participant writes a 'prepared' mark in tx_participants inside the prepared
 *   transaction, visible only once it committed;
 * - a rollback that finds nothing prepared writes an 'aborted' mark, which makes a late
 *   prepare of the same gid refuse.
 */

export type ParticipantState = 'prepared' | 'committed' | 'rolled back' | 'unknown';

function checkGid(gid: string): string {
  if (!GID_PATTERN.test(gid)) throw new Error(`not a txmgr global transaction id: ${gid}`);
  return gid; // safe to quote: only hex, dashes, colons and letters
}

/** max_prepared_transactions of the server behind `db`; 0 means PREPARE TRANSACTION is refused. */
export async function maxPreparedTransactions(db: Pool | PoolClient): Promise<number> {
  const { rows } = await db.query<{ setting: string }>(
    `SELECT setting FROM pg_settings WHERE name = 'max_prepared_transactions'`,
  );
  return Number(rows[0]?.setting ?? 0);
}

export async function isPrepared(db: Pool | PoolClient, gid: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()', [gid]);
  return rowCount === 1;
}

/** Where a participant stands: prepared (in doubt), committed, rolled back, or never seen. */
export async function participantState(db: Pool | PoolClient, gid: string): Promise<ParticipantState> {
  if (await isPrepared(db, gid)) return 'prepared';
  const { rows } = await db.query<{ state: string }>('SELECT state FROM tx_participants WHERE gid = $1', [gid]);
  if (rows[0]?.state === 'prepared') return 'committed';
  if (rows[0]?.state === 'aborted') return 'rolled back';
  return 'unknown';
}

/**
 * Runs `fn` and PREPARE TRANSACTION `gid` in one transaction. Already prepared (or
 * committed) is success; a participant rolled back by a decision refuses.
 */
export async function prepareTransaction(
  pool: Pool,
  gid: string,
  transactionId: string,
  fn: (client: PoolClient) => Promise<void>,
  lockTimeoutMs = currentLockTimeout(),
): Promise<'prepared' | 'committed'> {
  checkGid(gid);
  const before = await participantState(pool, gid);
  if (before === 'prepared' || before === 'committed') return before;
  if (before === 'rolled back') {
    throw new DomainError('InvalidState', `participant ${gid} was rolled back; this late prepare applies nothing`, { gid });
  }
  const client = await pool.connect().catch((err: unknown) => {
    throw dbFailure(err);
  });
  let broken = false;
  const onError = (): void => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    await deferNotify(client);
    // First: a concurrent attempt or rollback of the same gid waits here, not half-way through.
    const mark = await client.query(
      `INSERT INTO tx_participants (gid, transaction_id, state) VALUES ($1, $2, 'prepared') ON CONFLICT DO NOTHING`,
      [gid, transactionId],
    );
    if (mark.rowCount !== 1) {
      await client.query('ROLLBACK');
      const state = await participantState(pool, gid);
      if (state === 'committed') return 'committed';
      throw new DomainError('InvalidState', `participant ${gid} was rolled back; this late prepare applies nothing`, { gid });
    }
    await fn(client);
    await client.query(`PREPARE TRANSACTION '${gid}'`);
    return 'prepared';
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    // Another attempt prepared this gid meanwhile (42710: identifier in use): that attempt won.
    if ((err as { code?: string }).code === '42710' && (await isPrepared(pool, gid))) return 'prepared';
    if (err instanceof DomainError) throw err;
    throw classifyDbError(err).kind === 'unknown' ? err : dbFailure(err);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** COMMIT PREPARED, idempotently: a participant already committed is success. */
export async function commitPrepared(pool: Pool, gid: string): Promise<'committed'> {
  checkGid(gid);
  for (let i = 0; i < 2; i++) {
    const state = await participantState(pool, gid);
    if (state === 'committed') return 'committed';
    if (state !== 'prepared') {
      throw new DomainError('InvalidState', `participant ${gid} cannot commit: it is ${state}`, { gid });
    }
    try {
      await pool.query(`COMMIT PREPARED '${gid}'`);
      await notifyChanges(pool, `commit:${gid}`).catch(() => undefined); // a wake-up only; the log has the content
      return 'committed';
    } catch (err) {
      // 42704: finished by someone else (recovery) between our check and our commit; look again.
      if ((err as { code?: string }).code !== '42704') throw dbFailure(err);
    }
  }
  throw new Error(`participant ${gid}: commit raced twice`);
}

/** ROLLBACK PREPARED, idempotently; with nothing prepared it leaves the 'aborted' mark that fences a late prepare. */
export async function rollbackPrepared(pool: Pool, gid: string, transactionId: string): Promise<'rolled back'> {
  checkGid(gid);
  for (let i = 0; i < 3; i++) {
    const state = await participantState(pool, gid);
    if (state === 'rolled back') return 'rolled back';
    if (state === 'committed') {
      throw new DomainError('InvalidState', `participant ${gid} already committed; it cannot be rolled back`, { gid });
    }
    try {
      if (state === 'prepared') {
        await pool.query(`ROLLBACK PREPARED '${gid}'`);
      } else {
        await writeAbortedMark(pool, gid, transactionId);
      }
    } catch (err) {
      if ((err as { code?: string }).code !== '42704') throw dbFailure(err);
    }
  }
  const state = await participantState(pool, gid);
  if (state === 'rolled back' || state === 'unknown') return 'rolled back';
  throw new Error(`participant ${gid} is ${state} after rollback`);
}

/** The 'aborted' mark; bounded wait, since a prepare in flight holds the gid's row until it prepares or fails. */
async function writeAbortedMark(pool: Pool, gid: string, transactionId: string): Promise<void> {
  const client = await pool.connect();
  // A connection lost while held fails this call, not the worker process (pg-pool listens only on idle clients).
  let broken = false;
  const onError = (): void => {
    broken = true;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout = 5000`);
    await client.query(
      `INSERT INTO tx_participants (gid, transaction_id, state) VALUES ($1, $2, 'aborted') ON CONFLICT DO NOTHING`,
      [gid, transactionId],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
