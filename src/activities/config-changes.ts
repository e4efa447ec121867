import type { PoolClient } from 'pg';
import { configAmountToMinor, type ConfigPayload, type ConfigTransaction } from '../domain/config';
import { DomainError } from '../domain/errors';
import { cancelOrdersOfHaltedMarket } from '../db/matching';
import { findAssetScale } from '../db/queries/assets';
import {
  addDenyListEntry,
  findMarket,
  removeDenyListEntry,
  setMarketStatus,
  upsertCampaignDefaults,
  upsertComplianceThreshold,
  upsertMarket,
  upsertWithdrawalRule,
} from '../db/queries/config';

/** What one config transaction does to the config rows: checked against the current config, then written. */

export const configRejected = (message: string) => new DomainError('ConfigRejected', message);

type AmountFormat = 'human' | 'minor';

/** The asset's scale; ConfigRejected naming the field when the asset is unknown. */
async function scaleOf(tx: PoolClient, asset: string, field: string): Promise<number> {
  const scale = await findAssetScale(tx, asset);
  if (scale === undefined) throw configRejected(`${field}: unknown asset "${asset}"`);
  return scale;
}

/** A payload amount in minor units; ConfigRejected naming the field when it has more decimals than the asset. */
function minor(value: string, asset: string, scale: number, field: string, format: AmountFormat): string {
  try {
    return configAmountToMinor(value, scale, field, format);
  } catch (err) {
    throw configRejected(`${(err as Error).message} (${asset})`);
  }
}

/**
 * Checks one transaction against the current config, then writes its rows. Throws
 * ConfigRejected when the change makes no sense now (halting an unknown market, an
 * amount finer than its asset). Returns a one-line summary for the change log.
 */
export async function applyChange(tx: PoolClient, t: ConfigTransaction, version: number, format: AmountFormat): Promise<string> {
  switch (t.kind) {
    case 'markets.upsert': {
      const p = t.payload as ConfigPayload<'markets.upsert'>;
      for (const [i, m] of p.markets.entries()) {
        const at = `payload.markets.${i}`;
        const base = await scaleOf(tx, m.baseAsset, `${at}.baseAsset`);
        const quote = await scaleOf(tx, m.quoteAsset, `${at}.quoteAsset`);
        const q = (v: string, f: string) => minor(v, m.baseAsset, base, `${at}.${f}`, format);
        await upsertMarket(
          tx,
          {
            ...m,
            tickSize: minor(m.tickSize, m.quoteAsset, quote, `${at}.tickSize`, format),
            lotSize: q(m.lotSize, 'lotSize'),
            minQuantity: q(m.minQuantity, 'minQuantity'),
            maxQuantity: q(m.maxQuantity, 'maxQuantity'),
          },
          version,
        );
        // A halt cancels the market's resting orders and releases their holds in this same transaction.
        if (m.status === 'halted') await cancelOrdersOfHaltedMarket(tx, m.symbol, 'halted by config');
      }
      return `markets ${p.markets.map((m) => m.symbol).join(', ')}`;
    }
    case 'markets.status': {
      const p = t.payload as ConfigPayload<'markets.status'>;
      const market = await findMarket(tx, p.symbol);
      if (!market) throw configRejected(`payload.symbol: market ${p.symbol} does not exist, so it cannot be set ${p.status}`);
      await setMarketStatus(tx, p.symbol, p.status, p.status === 'halted' ? (p.reason ?? 'halted by config') : null, version);
      if (p.status === 'halted') await cancelOrdersOfHaltedMarket(tx, p.symbol, p.reason ?? 'halted by config');
      return `market ${p.symbol} ${p.status}`;
    }
    case 'compliance.thresholds': {
      const p = t.payload as ConfigPayload<'compliance.thresholds'>;
      for (const [i, th] of p.thresholds.entries()) {
        const at = `payload.thresholds.${i}`;
        const scale = await scaleOf(tx, th.asset, `${at}.asset`);
        const reviewThreshold = minor(th.reviewThreshold, th.asset, scale, `${at}.reviewThreshold`, format);
        await upsertComplianceThreshold(tx, { ...th, reviewThreshold }, version);
      }
      return `review thresholds for ${p.thresholds.map((th) => th.asset).join(', ')}`;
    }
    case 'compliance.denyList': {
      const p = t.payload as ConfigPayload<'compliance.denyList'>;
      for (const e of p.add) await addDenyListEntry(tx, e, version);
      for (const name of p.remove) await removeDenyListEntry(tx, name);
      return `deny list +${p.add.length} -${p.remove.length}`;
    }
    case 'withdrawals.rules': {
      const p = t.payload as ConfigPayload<'withdrawals.rules'>;
      for (const [i, r] of p.rules.entries()) {
        const at = `payload.rules.${i}`;
        const scale = await scaleOf(tx, r.asset, `${at}.asset`);
        const a = (v: string, f: string) => minor(v, r.asset, scale, `${at}.${f}`, format);
        await upsertWithdrawalRule(
          tx,
          {
            ...r,
            minimum: a(r.minimum, 'minimum'),
            perTransactionLimit: a(r.perTransactionLimit, 'perTransactionLimit'),
            dailyLimit: a(r.dailyLimit, 'dailyLimit'),
            networkFee: a(r.networkFee, 'networkFee'),
          },
          version,
        );
      }
      return `withdrawal rules for ${p.rules.map((r) => r.asset).join(', ')}`;
    }
    case 'campaigns.defaults': {
      const p = t.payload as ConfigPayload<'campaigns.defaults'>;
      const scale = await scaleOf(tx, p.budgetAsset, 'payload.budgetAsset');
      const a = (v: string, f: string) => minor(v, p.budgetAsset, scale, `payload.${f}`, format);
      await upsertCampaignDefaults(
        tx,
        { ...p, maxBudget: a(p.maxBudget, 'maxBudget'), maxRewardPerUser: a(p.maxRewardPerUser, 'maxRewardPerUser') },
        version,
      );
      return `campaign defaults (${p.budgetAsset})`;
    }
  }
}
