import type { PoolClient } from 'pg';
import {
  parseConfigTransaction,
  type ConfigOutcome,
  type ConfigPayload,
  type ConfigTransaction,
  type QueuedConfigTransaction,
} from '../domain/config';
import { DomainError } from '../domain/errors';
import { ConfigCache } from '../db/config-cache';
import { DbError } from '../db/errors';
import { findAssetScale } from '../db/queries/assets';
import {
  addDenyListEntry,
  bumpConfigVersion,
  findConfigTransaction,
  findMarket,
  insertConfigChange,
  insertPendingConfigTransaction,
  lockConfigState,
  markConfigTransactionApplied,
  markConfigTransactionFailed,
  notifyConfigChange,
  readConfigState,
  removeDenyListEntry,
  setLastSequence,
  setMarketStatus,
  upsertCampaignDefaults,
  upsertComplianceThreshold,
  upsertMarket,
  upsertWithdrawalRule,
  type ConfigTransactionRow,
} from '../db/queries/config';
import { withTransaction } from '../db/transaction';
import { currentScope, toActivityError, transactional, type ActivityScope } from './boundary';
import type { ActivityDeps } from './deps';

const rejected = (message: string) => new DomainError('ConfigRejected', message);

/** Stored payloads of bad signals are capped; the reason says what was wrong. */
const MAX_STORED_PAYLOAD_CHARS = 64 * 1024;

function outcomeOf(row: ConfigTransactionRow, ticket: string): ConfigOutcome {
  // Same ticket: this entry's own earlier attempt committed and its result was lost.
  const duplicate = row.ticket !== ticket;
  if (row.status === 'applied')
    return { id: row.id, status: 'applied', sequence: row.sequence, configVersion: row.config_version!, duplicate };
  return { id: row.id, status: 'failed', sequence: row.sequence, reason: row.error ?? 'failed', duplicate };
}

async function assetMustExist(tx: PoolClient, asset: string, field: string): Promise<void> {
  if ((await findAssetScale(tx, asset)) === undefined) throw rejected(`${field}: unknown asset "${asset}"`);
}

/**
 * Checks one transaction against the current config, then writes its rows. Throws
 * ConfigRejected when the change makes no sense now (halting an unknown market).
 * Returns a one-line summary for the change log.
 */
async function applyChange(tx: PoolClient, t: ConfigTransaction, version: number): Promise<string> {
  switch (t.kind) {
    case 'markets.upsert': {
      const p = t.payload as ConfigPayload<'markets.upsert'>;
      for (const [i, m] of p.markets.entries()) {
        await assetMustExist(tx, m.baseAsset, `payload.markets.${i}.baseAsset`);
        await assetMustExist(tx, m.quoteAsset, `payload.markets.${i}.quoteAsset`);
        await upsertMarket(tx, m, version);
      }
      return `markets ${p.markets.map((m) => m.symbol).join(', ')}`;
    }
    case 'markets.status': {
      const p = t.payload as ConfigPayload<'markets.status'>;
      const market = await findMarket(tx, p.symbol);
      if (!market) throw rejected(`payload.symbol: market ${p.symbol} does not exist, so it cannot be set ${p.status}`);
      await setMarketStatus(tx, p.symbol, p.status, p.status === 'halted' ? (p.reason ?? 'halted by config') : null, version);
      return `market ${p.symbol} ${p.status}`;
    }
    case 'compliance.thresholds': {
      const p = t.payload as ConfigPayload<'compliance.thresholds'>;
      for (const [i, th] of p.thresholds.entries()) {
        await assetMustExist(tx, th.asset, `payload.thresholds.${i}.asset`);
        await upsertComplianceThreshold(tx, th, version);
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
        await assetMustExist(tx, r.asset, `payload.rules.${i}.asset`);
        await upsertWithdrawalRule(tx, r, version);
      }
      return `withdrawal rules for ${p.rules.map((r) => r.asset).join(', ')}`;
    }
    case 'campaigns.defaults': {
      const p = t.payload as ConfigPayload<'campaigns.defaults'>;
      await assetMustExist(tx, p.budgetAsset, 'payload.budgetAsset');
      await upsertCampaignDefaults(tx, p, version);
      return `campaign defaults (${p.budgetAsset})`;
    }
  }
}

/** Permanent reasons to fail a transaction; anything else is transient and retried. */
function permanentReason(err: unknown): string | undefined {
  if (err instanceof DomainError) return err.message;
  if (err instanceof DbError && !err.retryable)
    return `database refused the change (${err.kind}${err.constraint ? ` on ${err.constraint}` : ''}): ${err.message}`;
  return undefined;
}

function storablePayload(item: QueuedConfigTransaction): unknown {
  try {
    const text = JSON.stringify(item.payload ?? null);
    return text.length > MAX_STORED_PAYLOAD_CHARS ? { omitted: `payload of ${text.length} characters` } : (item.payload ?? null);
  } catch {
    return { omitted: 'payload is not JSON' };
  }
}

/**
 * Applies one queued transaction, idempotent by its id: record it pending with
 * the next gapless sequence, then (second database transaction) validate against
 * the current config and apply it — rows, version bump, change log, NOTIFY —
 * or mark it failed. A retry after a crash anywhere finds the row and carries on
 * from where it is, so each id takes effect exactly once.
 */
async function applyOne(deps: ActivityDeps, scope: ActivityScope, item: QueuedConfigTransaction): Promise<ConfigOutcome> {
  const options = { workflowId: scope.workflowId, activity: scope.activity, attempt: scope.attempt };
  /** Records the entry pending; with `failure`, records it failed at once, in the same transaction. */
  const record = (entry: QueuedConfigTransaction, failure?: string) =>
    withTransaction(
      deps.pool,
      'recordConfigTransaction',
      async (tx) => {
        // No need to wait for this commit to reach disk: the apply transaction below reads this
        // row, and its own synchronous commit flushes the WAL up to and including this one.
        // (Not so for a row recorded failed at once: nothing after it commits for it.)
        if (failure === undefined) await tx.query('SET LOCAL synchronous_commit = off');
        const state = await lockConfigState(tx);
        const existing = await findConfigTransaction(tx, entry.id);
        if (existing) return existing;
        const sequence = state.last_sequence + 1;
        if (!(await setLastSequence(tx, sequence)))
          throw new Error(`config sequence ${sequence} is not next; refusing to leave a gap`);
        const inserted = await insertPendingConfigTransaction(tx, {
          id: entry.id,
          sequence,
          kind: entry.kind.slice(0, 200) || '(none)',
          payload: storablePayload(entry),
          source: entry.source,
          submittedAt: entry.submittedAt,
          ticket: entry.ticket,
          workflowId: scope.workflowId,
          runId: scope.runId,
        });
        if (failure === undefined) return inserted;
        await markConfigTransactionFailed(tx, entry.id, failure);
        return (await findConfigTransaction(tx, entry.id))!;
      },
      options,
    );
  let recorded: ConfigTransactionRow;
  try {
    recorded = await record(item);
  } catch (err) {
    // PostgreSQL refused the entry as given (a NUL character, a time it cannot represent).
    // Thrown on, that permanent error would fail the siphon workflow and lose its queue:
    // record a storable copy instead, failed with the reason (final, so a retry never applies it).
    const reason = permanentReason(err);
    if (reason === undefined) throw err;
    const noNul = (v: string) => v.split('\u0000').join('');
    const storable: QueuedConfigTransaction = {
      ...item,
      kind: noNul(item.kind),
      payload: { omitted: 'payload could not be stored' },
      source: noNul(item.source),
      submittedAt: (deps.clock?.() ?? new Date()).toISOString(),
    };
    recorded = await record(storable, `invalid transaction: cannot be stored: ${reason}`);
  }
  if (recorded.status !== 'pending') return outcomeOf(recorded, item.ticket);

  return withTransaction(
    deps.pool,
    'applyConfigTransaction',
    async (tx) => {
      await lockConfigState(tx);
      const row = await findConfigTransaction(tx, item.id);
      if (!row) throw new Error(`config transaction ${item.id} vanished after it was recorded`);
      if (row.status !== 'pending') return outcomeOf(row, item.ticket);
      // The activity is the authority: it re-checks even what the workflow already accepted.
      // A pending row another submission recorded (its run ended before applying it) is applied
      // as recorded with its sequence, not as this later submission of the same id says.
      const own = row.ticket === item.ticket;
      const parsed =
        own && item.rejected !== undefined
          ? { ok: false as const, error: item.rejected }
          : parseConfigTransaction(
              own
                ? { id: item.id, kind: item.kind, payload: item.payload, source: item.source, submittedAt: item.submittedAt }
                : {
                    id: row.id,
                    kind: row.kind,
                    payload: row.payload,
                    source: row.source,
                    submittedAt: row.submitted_at.toISOString(),
                  },
            );
      let failure = parsed.ok ? undefined : `invalid transaction: ${parsed.error}`;
      let version = 0;
      if (parsed.ok) {
        await tx.query('SAVEPOINT apply_change');
        try {
          version = await bumpConfigVersion(tx);
          const summary = await applyChange(tx, parsed.value, version);
          await insertConfigChange(tx, { version, transactionId: item.id, kind: parsed.value.kind, summary });
        } catch (err) {
          failure = permanentReason(err);
          if (failure === undefined) throw err;
          await tx.query('ROLLBACK TO SAVEPOINT apply_change');
        }
      }
      if (failure !== undefined) {
        await markConfigTransactionFailed(tx, item.id, failure);
        scope.logger.info({ id: item.id, sequence: row.sequence, reason: failure }, 'config transaction failed');
        return {
          id: item.id,
          status: 'failed',
          sequence: row.sequence,
          reason: failure,
          duplicate: !own,
        } satisfies ConfigOutcome;
      }
      await markConfigTransactionApplied(tx, item.id, version);
      await notifyConfigChange(tx, version);
      return {
        id: item.id,
        status: 'applied',
        sequence: row.sequence,
        configVersion: version,
        duplicate: !own,
      } satisfies ConfigOutcome;
    },
    options,
  );
}

export function createConfigActivities(deps: ActivityDeps) {
  const cache = new ConfigCache(deps.pool);

  return {
    /** Where config stands: the siphon reads this when a run boots or reloads. */
    loadSiphonPosition: transactional(deps, 'loadSiphonPosition', async (_: void, tx) => {
      const s = await readConfigState(tx);
      return { lastSequence: s.last_sequence, configVersion: s.version };
    }),

    /**
     * Applies queued transactions one at a time, in the order given. Batching only
     * saves Temporal round trips: each transaction still gets its own database
     * transactions, and a retry of the batch finds the ones already done by id.
     */
    async applyConfigBatch(entries: QueuedConfigTransaction[]): Promise<ConfigOutcome[]> {
      const scope = currentScope(deps, 'applyConfigBatch');
      const outcomes: ConfigOutcome[] = [];
      try {
        for (const entry of entries) outcomes.push(await applyOne(deps, scope, entry));
        return outcomes;
      } catch (err) {
        scope.logger.warn({ err, done: outcomes.length, of: entries.length }, 'applyConfigBatch failed; Temporal retries it');
        throw toActivityError(err);
      }
    },

    /** Config readers for sagas: through the cache, which checks the version on every read. */
    readMarketConfig: async (symbol: string) => (await cache.current()).markets.get(symbol) ?? null,
    readWithdrawalRule: async (asset: string) => (await cache.current()).withdrawalRules.get(asset) ?? null,
    readComplianceConfig: async (asset: string) => {
      const snapshot = await cache.current();
      return { version: snapshot.version, settings: snapshot.compliance.get(asset) ?? null };
    },
    readCampaignDefaults: async () => (await cache.current()).campaignDefaults ?? null,
  };
}
