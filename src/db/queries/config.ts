import type { Pool, PoolClient } from 'pg';
import type { MarketConfig, WithdrawalRule } from '../../domain/config';
import { normaliseName } from './compliance';

type Db = Pool | PoolClient;

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

// ---- config rows, one function per statement ----

export interface MarketRow {
  symbol: string;
  base_asset: string;
  quote_asset: string;
  tick_size: string;
  lot_size: string;
  min_quantity: string;
  max_quantity: string;
  price_band_bps: number;
  maker_fee_bps: number;
  taker_fee_bps: number;
  status: 'active' | 'halted';
  halt_reason: string | null;
  config_version: string;
}

export async function findMarket(db: Db, symbol: string): Promise<MarketRow | undefined> {
  const { rows } = await db.query<MarketRow>('SELECT * FROM markets WHERE symbol = $1', [symbol]);
  return rows[0];
}

export async function listMarkets(db: Db): Promise<MarketRow[]> {
  const { rows } = await db.query<MarketRow>('SELECT * FROM markets ORDER BY symbol');
  return rows;
}

export async function upsertMarket(tx: PoolClient, m: MarketConfig, version: number): Promise<void> {
  await tx.query(
    `INSERT INTO markets (symbol, base_asset, quote_asset, tick_size, lot_size, min_quantity, max_quantity,
       price_band_bps, maker_fee_bps, taker_fee_bps, status, halt_reason, config_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12)
     ON CONFLICT (symbol) DO UPDATE SET base_asset = EXCLUDED.base_asset, quote_asset = EXCLUDED.quote_asset,
       tick_size = EXCLUDED.tick_size, lot_size = EXCLUDED.lot_size, min_quantity = EXCLUDED.min_quantity,
       max_quantity = EXCLUDED.max_quantity, price_band_bps = EXCLUDED.price_band_bps, maker_fee_bps = EXCLUDED.maker_fee_bps,
       taker_fee_bps = EXCLUDED.taker_fee_bps, status = EXCLUDED.status, halt_reason = NULL,
       config_version = EXCLUDED.config_version, updated_at = now()`,
    [
      m.symbol,
      m.baseAsset,
      m.quoteAsset,
      m.tickSize,
      m.lotSize,
      m.minQuantity,
      m.maxQuantity,
      m.priceBandBps,
      m.makerFeeBps,
      m.takerFeeBps,
      m.status,
      version,
    ],
  );
}

export async function setMarketStatus(
  tx: PoolClient,
  symbol: string,
  status: 'active' | 'halted',
  reason: string | null,
  version: number,
): Promise<void> {
  await tx.query('UPDATE markets SET status = $2, halt_reason = $3, config_version = $4, updated_at = now() WHERE symbol = $1', [
    symbol,
    status,
    reason,
    version,
  ]);
}

export async function upsertComplianceThreshold(
  tx: PoolClient,
  t: { asset: string; reviewThreshold: string; reviewTimeoutSeconds?: number },
  version: number,
): Promise<void> {
  // An omitted timeout keeps the current one (or the column default for a new asset).
  await tx.query(
    `INSERT INTO compliance_settings (asset, review_threshold, review_timeout_seconds, config_version)
     VALUES ($1, $2, COALESCE($3, 86400), $4)
     ON CONFLICT (asset) DO UPDATE SET review_threshold = EXCLUDED.review_threshold,
       review_timeout_seconds = COALESCE($3, compliance_settings.review_timeout_seconds), config_version = EXCLUDED.config_version`,
    [t.asset, t.reviewThreshold, t.reviewTimeoutSeconds ?? null, version],
  );
}

export async function addDenyListEntry(tx: PoolClient, e: { name: string; reason: string }, version: number): Promise<void> {
  await tx.query(
    `INSERT INTO compliance_deny_list (name, reason, config_version) VALUES ($1, $2, $3)
     ON CONFLICT (name) DO UPDATE SET reason = EXCLUDED.reason, config_version = EXCLUDED.config_version`,
    [normaliseName(e.name), e.reason, version],
  );
}

export async function removeDenyListEntry(tx: PoolClient, name: string): Promise<boolean> {
  const { rowCount } = await tx.query('DELETE FROM compliance_deny_list WHERE name = $1', [normaliseName(name)]);
  return (rowCount ?? 0) > 0;
}

export async function listComplianceSettings(db: Db) {
  const { rows } = await db.query<{ asset: string; review_threshold: string; review_timeout_seconds: number }>(
    'SELECT asset, review_threshold, review_timeout_seconds FROM compliance_settings ORDER BY asset',
  );
  return rows;
}

export async function listDenyList(db: Db): Promise<Array<{ name: string; reason: string }>> {
  const { rows } = await db.query<{ name: string; reason: string }>(
    'SELECT name, reason FROM compliance_deny_list ORDER BY name',
  );
  return rows;
}

export interface WithdrawalRuleRow {
  asset: string;
  minimum: string;
  per_transaction_limit: string;
  daily_limit: string;
  network_fee: string;
  confirmations_required: number;
  address_format: string;
  config_version: string;
}

export async function upsertWithdrawalRule(tx: PoolClient, r: WithdrawalRule, version: number): Promise<void> {
  await tx.query(
    `INSERT INTO withdrawal_rules (asset, minimum, per_transaction_limit, daily_limit, network_fee, confirmations_required, address_format, config_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (asset) DO UPDATE SET minimum = EXCLUDED.minimum, per_transaction_limit = EXCLUDED.per_transaction_limit,
       daily_limit = EXCLUDED.daily_limit, network_fee = EXCLUDED.network_fee, confirmations_required = EXCLUDED.confirmations_required,
       address_format = EXCLUDED.address_format, config_version = EXCLUDED.config_version, updated_at = now()`,
    [r.asset, r.minimum, r.perTransactionLimit, r.dailyLimit, r.networkFee, r.confirmationsRequired, r.addressFormat, version],
  );
}

export async function listWithdrawalRules(db: Db): Promise<WithdrawalRuleRow[]> {
  const { rows } = await db.query<WithdrawalRuleRow>('SELECT * FROM withdrawal_rules ORDER BY asset');
  return rows;
}

export interface CampaignDefaultsRow {
  budget_asset: string;
  max_budget: string;
  default_duration_days: number;
  max_reward_per_user: string;
  activation_delay_seconds: number;
  config_version: string;
}

export async function upsertCampaignDefaults(
  tx: PoolClient,
  c: {
    budgetAsset: string;
    maxBudget: string;
    defaultDurationDays: number;
    maxRewardPerUser: string;
    activationDelaySeconds: number;
  },
  version: number,
): Promise<void> {
  await tx.query(
    `INSERT INTO campaign_defaults (singleton, budget_asset, max_budget, default_duration_days, max_reward_per_user, activation_delay_seconds, config_version)
     VALUES (true, $1, $2, $3, $4, $5, $6)
     ON CONFLICT (singleton) DO UPDATE SET budget_asset = EXCLUDED.budget_asset, max_budget = EXCLUDED.max_budget,
       default_duration_days = EXCLUDED.default_duration_days, max_reward_per_user = EXCLUDED.max_reward_per_user,
       activation_delay_seconds = EXCLUDED.activation_delay_seconds, config_version = EXCLUDED.config_version, updated_at = now()`,
    [c.budgetAsset, c.maxBudget, c.defaultDurationDays, c.maxRewardPerUser, c.activationDelaySeconds, version],
  );
}

export async function findCampaignDefaults(db: Db): Promise<CampaignDefaultsRow | undefined> {
  const { rows } = await db.query<CampaignDefaultsRow>('SELECT * FROM campaign_defaults');
  return rows[0];
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
