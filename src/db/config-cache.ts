import { Client, type Pool } from 'pg';
import type { Logger } from '../logger';
import {
  CONFIG_CHANNEL,
  findCampaignDefaults,
  listComplianceSettings,
  listDenyList,
  listMarkets,
  listWithdrawalRules,
  readConfigState,
} from './queries/config';
import { normaliseName } from './queries/compliance';
import { withTransaction } from './transaction';

export interface MarketView {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  lotSize: string;
  minQuantity: string;
  maxQuantity: string;
  priceBandBps: number;
  makerFeeBps: number;
  takerFeeBps: number;
  status: 'active' | 'halted';
  haltReason: string | null;
}

export interface WithdrawalRuleView {
  asset: string;
  minimum: string;
  perTransactionLimit: string;
  dailyLimit: string;
  networkFee: string;
  confirmationsRequired: number;
  addressFormat: string;
}

export interface CampaignDefaultsView {
  budgetAsset: string;
  maxBudget: string;
  defaultDurationDays: number;
  maxRewardPerUser: string;
  activationDelaySeconds: number;
}

/** All config at one version, read in one snapshot so its parts agree with each other. */
export interface ConfigSnapshot {
  version: number;
  markets: Map<string, MarketView>;
  compliance: Map<string, { reviewThreshold: string; reviewTimeoutSeconds: number }>;
  /** Normalised name → reason. */
  denyList: Map<string, string>;
  withdrawalRules: Map<string, WithdrawalRuleView>;
  campaignDefaults?: CampaignDefaultsView;
}

/**
 * Config readers for activities. Config is small and read far more often than it
 * changes, so a whole snapshot is cached. Every read first compares the cached
 * version with config_state.version (one primary-key lookup): a saga that starts
 * after a transaction was applied always sees it, even before the notification
 * arrives. With `listen()`, a NOTIFY from the siphon reloads the snapshot in the
 * background, so the reader after a change usually finds it already warm.
 */
export class ConfigCache {
  private snapshot?: ConfigSnapshot;
  private loading?: Promise<ConfigSnapshot>;
  private listener?: Client;
  /** How many times the snapshot was (re)loaded; tests read it. */
  loads = 0;
  notifications = 0;

  constructor(
    private readonly pool: Pool,
    private readonly logger?: Logger,
  ) {}

  /** The current config, reloaded when the version moved since the last read. */
  async current(): Promise<ConfigSnapshot> {
    const { version } = await readConfigState(this.pool);
    // A load already in flight may have read config before `version` committed: then load again.
    while (!this.snapshot || this.snapshot.version < version) await this.reload();
    return this.snapshot;
  }

  async market(symbol: string): Promise<MarketView | undefined> {
    return (await this.current()).markets.get(symbol);
  }

  async withdrawalRule(asset: string): Promise<WithdrawalRuleView | undefined> {
    return (await this.current()).withdrawalRules.get(asset);
  }

  async deniedReason(name: string): Promise<string | undefined> {
    return (await this.current()).denyList.get(normaliseName(name));
  }

  /** Subscribes to the siphon's change notifications on a dedicated connection. */
  async listen(): Promise<void> {
    if (this.listener) return;
    const client = new Client(this.pool.options);
    client.on('notification', (msg) => {
      this.notifications++;
      const version = Number(msg.payload);
      if (!this.snapshot || !(version <= this.snapshot.version)) {
        this.reload().catch((err: unknown) => this.logger?.warn({ err }, 'config reload after notification failed'));
      }
    });
    // A lost listener only costs freshness of the warm copy; reads still check the version.
    client.on('error', (err) => {
      this.logger?.warn({ err }, 'config listener connection failed');
      this.listener = undefined;
    });
    await client.connect();
    await client.query(`LISTEN ${CONFIG_CHANNEL}`);
    this.listener = client;
  }

  async close(): Promise<void> {
    const l = this.listener;
    this.listener = undefined;
    await l?.end();
  }

  private reload(): Promise<ConfigSnapshot> {
    // Concurrent readers share one load.
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<ConfigSnapshot> {
    const snapshot = await withTransaction(
      this.pool,
      'loadConfigSnapshot',
      async (tx) => {
        const state = await readConfigState(tx);
        const [markets, compliance, deny, rules, campaign] = [
          await listMarkets(tx),
          await listComplianceSettings(tx),
          await listDenyList(tx),
          await listWithdrawalRules(tx),
          await findCampaignDefaults(tx),
        ];
        return {
          version: state.version,
          markets: new Map(
            markets.map((m) => [
              m.symbol,
              {
                symbol: m.symbol,
                baseAsset: m.base_asset,
                quoteAsset: m.quote_asset,
                tickSize: m.tick_size,
                lotSize: m.lot_size,
                minQuantity: m.min_quantity,
                maxQuantity: m.max_quantity,
                priceBandBps: m.price_band_bps,
                makerFeeBps: m.maker_fee_bps,
                takerFeeBps: m.taker_fee_bps,
                status: m.status,
                haltReason: m.halt_reason,
              },
            ]),
          ),
          compliance: new Map(
            compliance.map((c) => [
              c.asset,
              { reviewThreshold: c.review_threshold, reviewTimeoutSeconds: c.review_timeout_seconds },
            ]),
          ),
          denyList: new Map(deny.map((d) => [d.name, d.reason])),
          withdrawalRules: new Map(
            rules.map((r) => [
              r.asset,
              {
                asset: r.asset,
                minimum: r.minimum,
                perTransactionLimit: r.per_transaction_limit,
                dailyLimit: r.daily_limit,
                networkFee: r.network_fee,
                confirmationsRequired: r.confirmations_required,
                addressFormat: r.address_format,
              },
            ]),
          ),
          campaignDefaults: campaign && {
            budgetAsset: campaign.budget_asset,
            maxBudget: campaign.max_budget,
            defaultDurationDays: campaign.default_duration_days,
            maxRewardPerUser: campaign.max_reward_per_user,
            activationDelaySeconds: campaign.activation_delay_seconds,
          },
        } satisfies ConfigSnapshot;
      },
      { isolation: 'repeatable read' },
    );
    this.loads++;
    // Never go backwards: a slow load may finish after a newer one.
    if (!this.snapshot || snapshot.version >= this.snapshot.version) this.snapshot = snapshot;
    return this.snapshot;
  }
}
