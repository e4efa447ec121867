import type { Pool, PoolClient } from 'pg';
import type { MarketConfig, WithdrawalRule } from '../../domain/config';
import { normaliseName } from './compliance';

type Db = Pool | PoolClient;

/** The config areas' rows (markets, compliance, withdrawal rules, campaign defaults), one function per statement. */

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
