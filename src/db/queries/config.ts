import type { Pool, PoolClient } from 'pg';

type Db = Pool | PoolClient;

// The areas' rows live in their own file; importers keep one module to import from.
export * from './config-areas';

/** The channel config changes are announced on; the payload is the new version. */
export const CONFIG_CHANNEL = 'txmgr_config';

export interface ConfigStateRow {
  version: number;
  last_sequence: number;
}

export interface ConfigTransactionRow {
  id: string;
  sequence: number;
  kind: string;
  payload: unknown;
  status: 'pending' | 'applied' | 'failed';
  error: string | null;
  source: string;
  config_version: number | null;
  workflow_id: string | null;
  run_id: string | null;
  ticket: string | null;
  submitted_at: Date;
  recorded_at: Date;
  applied_at: Date | null;
  /** How the payload's amounts are written: 'human' decimals, or 'minor' units (rows from before). */
  amount_format: 'human' | 'minor';
}

// bigint columns come back as strings (see db/pool.ts); sequences and versions fit a JS number.
const CONFIG_TX_COLUMNS = `id, sequence::float8 AS sequence, kind, payload, status, error, source,
  config_version::float8 AS config_version, workflow_id, run_id, ticket, submitted_at, recorded_at, applied_at, amount_format`;

export async function readConfigState(db: Db): Promise<ConfigStateRow> {
  const { rows } = await db.query<ConfigStateRow>(
    'SELECT version::float8 AS version, last_sequence::float8 AS last_sequence FROM config_state',
  );
  if (!rows[0]) throw new Error('config_state has no row: are the migrations applied?');
  return rows[0];
}

/** Locks the one config_state row: every config transaction goes through here, one at a time. */
export async function lockConfigState(tx: PoolClient): Promise<ConfigStateRow> {
  const { rows } = await tx.query<ConfigStateRow>(
    'SELECT version::float8 AS version, last_sequence::float8 AS last_sequence FROM config_state FOR UPDATE',
  );
  if (!rows[0]) throw new Error('config_state has no row: are the migrations applied?');
  return rows[0];
}

/** Hands out `sequence`; false when it is not the next one (which would leave a gap). */
export async function setLastSequence(tx: PoolClient, sequence: number): Promise<boolean> {
  const { rowCount } = await tx.query(
    'UPDATE config_state SET last_sequence = $1, updated_at = now() WHERE last_sequence = $1 - 1',
    [sequence],
  );
  return rowCount === 1;
}

export async function bumpConfigVersion(tx: PoolClient): Promise<number> {
  const { rows } = await tx.query<{ version: number }>(
    'UPDATE config_state SET version = version + 1, updated_at = now() RETURNING version::float8 AS version',
  );
  return rows[0]!.version;
}

export async function findConfigTransaction(db: Db, id: string): Promise<ConfigTransactionRow | undefined> {
  const { rows } = await db.query<ConfigTransactionRow>(`SELECT ${CONFIG_TX_COLUMNS} FROM config_transactions WHERE id = $1`, [
    id,
  ]);
  return rows[0];
}

export async function insertPendingConfigTransaction(
  tx: PoolClient,
  t: {
    id: string;
    sequence: number;
    kind: string;
    payload: unknown;
    source: string;
    submittedAt: string;
    ticket: string;
    workflowId?: string;
    runId?: string;
    /** Rows without it are minor units (what every row written before human amounts is). */
    amountFormat?: 'human' | 'minor';
  },
): Promise<ConfigTransactionRow> {
  const { rows } = await tx.query<ConfigTransactionRow>(
    `INSERT INTO config_transactions (id, sequence, kind, payload, status, source, submitted_at, ticket, workflow_id, run_id, amount_format)
     VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8, $9, $10)
     RETURNING ${CONFIG_TX_COLUMNS}`,
    [
      t.id,
      t.sequence,
      t.kind,
      JSON.stringify(t.payload ?? null),
      t.source,
      t.submittedAt,
      t.ticket,
      t.workflowId ?? null,
      t.runId ?? null,
      t.amountFormat ?? 'minor',
    ],
  );
  return rows[0]!;
}

export interface ConfigConflictRow {
  transaction_id: string;
  ticket: string;
  kind: string;
  payload: unknown;
  source: string;
  differences: string;
  workflow_id: string | null;
  recorded_at: Date;
}

/** Records a conflicting submission once per ticket (a retried apply records nothing new). */
export async function insertConfigConflict(
  tx: PoolClient,
  c: {
    transactionId: string;
    ticket: string;
    kind: string;
    payload: unknown;
    source: string;
    differences: string;
    workflowId?: string;
  },
): Promise<void> {
  await tx.query(
    `INSERT INTO config_conflicts (transaction_id, ticket, kind, payload, source, differences, workflow_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (transaction_id, ticket) DO NOTHING`,
    [c.transactionId, c.ticket, c.kind, JSON.stringify(c.payload ?? null), c.source, c.differences, c.workflowId ?? null],
  );
}

/** Conflicting submissions, newest first; of one transaction id when given. */
export async function listConfigConflicts(db: Db, o: { limit: number; transactionId?: string }): Promise<ConfigConflictRow[]> {
  const { rows } = await db.query<ConfigConflictRow>(
    `SELECT transaction_id, ticket, kind, payload, source, differences, workflow_id, recorded_at FROM config_conflicts
     WHERE ($2::text IS NULL OR transaction_id = $2) ORDER BY recorded_at DESC LIMIT $1`,
    [o.limit, o.transactionId ?? null],
  );
  return rows;
}

export async function markConfigTransactionApplied(tx: PoolClient, id: string, version: number): Promise<void> {
  await tx.query(
    `UPDATE config_transactions SET status = 'applied', config_version = $2, applied_at = now() WHERE id = $1 AND status = 'pending'`,
    [id, version],
  );
}

export async function markConfigTransactionFailed(tx: PoolClient, id: string, reason: string): Promise<void> {
  await tx.query(
    `UPDATE config_transactions SET status = 'failed', error = $2, applied_at = now() WHERE id = $1 AND status = 'pending'`,
    [id, reason.slice(0, 4000)],
  );
}

export async function insertConfigChange(
  tx: PoolClient,
  c: { version: number; transactionId: string; kind: string; summary: string },
): Promise<void> {
  await tx.query('INSERT INTO config_changes (version, transaction_id, kind, summary) VALUES ($1, $2, $3, $4)', [
    c.version,
    c.transactionId,
    c.kind,
    c.summary,
  ]);
}

/** Delivered to listeners when the transaction commits, not before. */
export async function notifyConfigChange(tx: PoolClient, version: number): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, String(version)]);
}

export async function listConfigTransactions(
  db: Db,
  o: { limit: number; beforeSequence?: number },
): Promise<ConfigTransactionRow[]> {
  const { rows } = await db.query<ConfigTransactionRow>(
    `SELECT ${CONFIG_TX_COLUMNS} FROM config_transactions WHERE ($2::bigint IS NULL OR sequence < $2) ORDER BY sequence DESC LIMIT $1`,
    [o.limit, o.beforeSequence ?? null],
  );
  return rows;
}

/**
 * DESIGN §3 invariant 5 for config: sequences run 1..last_sequence with no gap,
 * each applied transaction made exactly one version, and the versions add up.
 * Returns one line per violation.
 */
export async function checkConfigInvariants(db: Db): Promise<string[]> {
  const violations: string[] = [];
  const { rows } = await db.query<{ n: number; min: number | null; max: number | null; last: number; version: number }>(
    `SELECT COUNT(t.id)::float8 AS n, MIN(t.sequence)::float8 AS min, MAX(t.sequence)::float8 AS max,
            s.last_sequence::float8 AS last, s.version::float8 AS version
     FROM config_state s LEFT JOIN config_transactions t ON true GROUP BY s.last_sequence, s.version`,
  );
  const r = rows[0];
  if (!r) return ['config_state has no row'];
  if (r.n !== r.last || (r.n > 0 && (r.min !== 1 || r.max !== r.last))) {
    violations.push(`config sequences are not 1..${r.last} without gaps (${r.n} rows, ${r.min}..${r.max})`);
  }
  const versions = await db.query<{ applied: number; changes: number; distinct_versions: number; max_version: number | null }>(
    `SELECT (SELECT COUNT(*) FROM config_transactions WHERE status = 'applied')::float8 AS applied,
            (SELECT COUNT(*) FROM config_changes)::float8 AS changes,
            (SELECT COUNT(DISTINCT config_version) FROM config_transactions WHERE status = 'applied')::float8 AS distinct_versions,
            (SELECT MAX(version) FROM config_changes)::float8 AS max_version`,
  );
  const v = versions.rows[0]!;
  if (v.applied !== v.changes || v.applied !== v.distinct_versions) {
    violations.push(
      `${v.applied} applied config transactions but ${v.changes} change-log rows and ${v.distinct_versions} versions`,
    );
  }
  if ((v.max_version ?? 0) !== r.version)
    violations.push(`config version is ${r.version} but the change log ends at ${v.max_version ?? 0}`);
  return violations;
}
