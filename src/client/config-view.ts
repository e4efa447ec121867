import type { Pool } from 'pg';
import { formatAmount } from '../domain/money';
import type { CampaignDefaultsView, WithdrawalRuleView } from '../db/config-cache';
import {
  findCampaignDefaults,
  listComplianceSettings,
  listDenyList,
  listMarkets,
  listWithdrawalRules,
  readConfigState,
} from '../db/queries/config';

/** An interface's fields as a plain object type (one a table printer can take). */
type Fields<T> = { [K in keyof T]: T[K] };

/** The config areas `txmgr config show [area]` knows. */
export const CONFIG_AREAS = ['markets', 'compliance', 'denylist', 'withdrawals', 'campaigns'] as const;
export type ConfigArea = (typeof CONFIG_AREAS)[number];

/**
 * The current config as a person reads it: amounts in human decimals of their asset
 * (a market's tick size in its quote asset, its lot and quantities in its base asset).
 */
export interface ConfigView {
  version: number;
  lastSequence: number;
  markets?: Array<{
    symbol: string;
    status: string;
    haltReason: string | null;
    tickSize: string;
    lotSize: string;
    minQuantity: string;
    maxQuantity: string;
    priceBandBps: number;
    makerFeeBps: number;
    takerFeeBps: number;
  }>;
  compliance?: Array<{ asset: string; reviewThreshold: string; reviewTimeoutSeconds: number }>;
  denylist?: Array<{ name: string; reason: string }>;
  /** The same shapes the sagas read through the config cache, amounts in human decimals here. */
  withdrawals?: Array<Fields<WithdrawalRuleView>>;
  campaigns?: Fields<CampaignDefaultsView> | null;
}

/** Reads the current config (all areas, or one); read-only. */
export async function readConfigView(pool: Pool, area?: ConfigArea): Promise<ConfigView> {
  const { rows: assets } = await pool.query<{ code: string; scale: number }>('SELECT code, scale FROM assets');
  const scales = new Map(assets.map((a) => [a.code, a.scale]));
  const human = (minor: string, asset: string) => {
    const scale = scales.get(asset);
    return scale === undefined ? minor : `${formatAmount(BigInt(minor), scale)} ${asset}`;
  };
  const want = (a: ConfigArea) => area === undefined || area === a;
  const state = await readConfigState(pool);
  const view: ConfigView = { version: state.version, lastSequence: state.last_sequence };
  if (want('markets')) {
    view.markets = (await listMarkets(pool)).map((m) => ({
      symbol: m.symbol,
      status: m.status,
      haltReason: m.halt_reason,
      tickSize: human(m.tick_size, m.quote_asset),
      lotSize: human(m.lot_size, m.base_asset),
      minQuantity: human(m.min_quantity, m.base_asset),
      maxQuantity: human(m.max_quantity, m.base_asset),
      priceBandBps: m.price_band_bps,
      makerFeeBps: m.maker_fee_bps,
      takerFeeBps: m.taker_fee_bps,
    }));
  }
  if (want('compliance')) {
    view.compliance = (await listComplianceSettings(pool)).map((c) => ({
      asset: c.asset,
      reviewThreshold: human(c.review_threshold, c.asset),
      reviewTimeoutSeconds: c.review_timeout_seconds,
    }));
  }
  if (want('denylist')) view.denylist = await listDenyList(pool);
  if (want('withdrawals')) {
    view.withdrawals = (await listWithdrawalRules(pool)).map((r) => ({
      asset: r.asset,
      minimum: human(r.minimum, r.asset),
      perTransactionLimit: human(r.per_transaction_limit, r.asset),
      dailyLimit: human(r.daily_limit, r.asset),
      networkFee: human(r.network_fee, r.asset),
      confirmationsRequired: r.confirmations_required,
      addressFormat: r.address_format,
    }));
  }
  if (want('campaigns')) {
    const c = await findCampaignDefaults(pool);
    view.campaigns = c
      ? {
          budgetAsset: c.budget_asset,
          maxBudget: human(c.max_budget, c.budget_asset),
          defaultDurationDays: c.default_duration_days,
          maxRewardPerUser: human(c.max_reward_per_user, c.budget_asset),
          activationDelaySeconds: c.activation_delay_seconds,
        }
      : null;
  }
  return view;
}
