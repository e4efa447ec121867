import { ApplicationFailure } from '@temporalio/activity';
import {
  cleanReason,
  jsonDifferences,
  parseConfigTransaction,
  type ConfigOutcome,
  type QueuedConfigTransaction,
} from '../domain/config';
import { DomainError } from '../domain/errors';
import { ConfigCache } from '../db/config-cache';
import { DbError } from '../db/errors';
import {
  bumpConfigVersion,
  findConfigTransaction,
  insertConfigChange,
  insertConfigConflict,
  insertPendingConfigTransaction,
  lockConfigState,
  markConfigTransactionApplied,
  markConfigTransactionFailed,
  notifyConfigChange,
  readConfigState,
  setLastSequence,
  type ConfigTransactionRow,
} from '../db/queries/config';
import { withTransaction } from '../db/transaction';
import { applyChange } from './config-changes';
import { currentScope, transactional, type ActivityScope } from './boundary';
import type { ActivityDeps } from './deps';

/** Stored payloads of bad signals are capped (UTF-8 bytes); the reason says what was wrong. */
const MAX_STORED_PAYLOAD_BYTES = 64 * 1024;

function outcomeOf(row: ConfigTransactionRow, ticket: string): ConfigOutcome {
  // Same ticket: this entry's own earlier attempt committed and its result was lost.
  const duplicate = row.ticket !== ticket;
  if (row.status === 'applied')
    return { id: row.id, status: 'applied', sequence: row.sequence, configVersion: row.config_version!, duplicate };
  return { id: row.id, status: 'failed', sequence: row.sequence, reason: cleanReason(row.error ?? 'failed'), duplicate };
}

const sqlClass = (err: unknown): string | undefined => (err instanceof DbError ? err.sqlstate?.slice(0, 2) : undefined);

/** PostgreSQL cannot store the entry as given (class 22: a NUL character, a time it cannot represent). */
const unstorable = (err: unknown): boolean => sqlClass(err) === '22';

/**
 * Permanent reasons to fail a transaction while applying it: a business rule said no, or the
 * data broke a rule of the database (classes 22, 23). Anything else — a cancelled statement
 * (57014), a lost connection — is transient and retried, whatever the error table says.
 */
function permanentReason(err: unknown): string | undefined {
  if (err instanceof DomainError) return cleanReason(err.message);
  const c = sqlClass(err);
  if (err instanceof DbError && (c === '22' || c === '23'))
    return cleanReason(
      `database refused the change (${err.kind}${err.constraint ? ` on ${err.constraint}` : ''}): ${err.message}`,
    );
  return undefined;
}

function storablePayload(item: QueuedConfigTransaction): unknown {
  try {
    const text = JSON.stringify(item.payload ?? null);
    const bytes = Buffer.byteLength(text, 'utf8');
    return bytes > MAX_STORED_PAYLOAD_BYTES ? { omitted: `payload of ${bytes} bytes` } : (item.payload ?? null);
  } catch {
    return { omitted: 'payload is not JSON' };
  }
}

/**
 * A ticket PostgreSQL text can hold. Update tickets carry the caller's update id, which may
 * hold NUL (22021 on every retry: the siphon would wedge); such a ticket is stored JSON-escaped,
 * which cannot collide with a real ticket ("update:…" or "<run id>:<n>").
 */
const storableTicket = (e: QueuedConfigTransaction): QueuedConfigTransaction =>
  e.ticket.includes('\u0000') ? { ...e, ticket: `escaped:${JSON.stringify(e.ticket)}` } : e;

const AMOUNT_KINDS = new Set(['markets.upsert', 'compliance.thresholds', 'withdrawals.rules', 'campaigns.defaults']);
const formatOf = (entry: QueuedConfigTransaction): 'human' | 'minor' => entry.amounts ?? 'minor';

/** What makes a second submission of an id differ from the recorded one; empty when it is the same transaction. */
function differences(row: ConfigTransactionRow, entry: QueuedConfigTransaction): string[] {
  const found: string[] = [];
  if (row.kind !== entry.kind) found.push(`kind: ${JSON.stringify(cleanReason(entry.kind, 80))} now, "${row.kind}" before`);
  // Only kinds with amounts: a deny-list change means the same whatever the era that recorded it.
  if (AMOUNT_KINDS.has(row.kind) && row.amount_format !== formatOf(entry))
    found.push(`amounts: written as ${formatOf(entry)} now, as ${row.amount_format} units before`);
  found.push(...jsonDifferences(row.payload, storablePayload(entry)));
  return found;
}

/**
 * Applies one queued transaction, idempotent by its id: record it pending with
 * the next gapless sequence, then (second database transaction) validate against
 * the current config and apply it — rows, version bump, change log, NOTIFY —
 * or mark it failed. A retry after a crash anywhere finds the row and carries on
 * from where it is, so each id takes effect exactly once. A second submission of
 * an id with other content is a conflict: recorded, reported, nothing applied.
 */
async function applyOne(deps: ActivityDeps, scope: ActivityScope, item: QueuedConfigTransaction): Promise<ConfigOutcome> {
  const options = { workflowId: scope.workflowId, activity: scope.activity, attempt: scope.attempt };
  /** Records the entry pending; with `failure`, records it failed at once, in the same transaction. */
  const record = (entry: QueuedConfigTransaction, failure?: string) =>
    withTransaction(
      deps.pool,
      'recordConfigTransaction',
      async (tx): Promise<{ row: ConfigTransactionRow; conflict?: string }> => {
        // No need to wait for this commit to reach disk: the apply transaction below reads this
        // row, and its own synchronous commit flushes the WAL up to and including this one.
        // (Not so for a row recorded failed at once: nothing after it commits for it.)
        if (failure === undefined) await tx.query('SET LOCAL synchronous_commit = off');
        const state = await lockConfigState(tx);
        const existing = await findConfigTransaction(tx, entry.id);
        if (existing) {
          const differs = existing.ticket === entry.ticket ? [] : differences(existing, entry);
          if (differs.length === 0) return { row: existing };
          const conflict = cleanReason(
            `config transaction ${entry.id} was already used (#${existing.sequence}, ${existing.kind}, ${existing.status}) ` +
              `with different content — ${differs.join('; ')}. Nothing was applied; a change needs a new id.`,
          );
          await insertConfigConflict(tx, {
            transactionId: entry.id,
            ticket: entry.ticket,
            kind: cleanReason(entry.kind, 200),
            payload: storablePayload(entry),
            source: cleanReason(entry.source, 200),
            differences: conflict,
            workflowId: scope.workflowId,
          });
          return { row: existing, conflict };
        }
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
          amountFormat: formatOf(entry),
        });
        if (failure === undefined) return { row: inserted };
        await markConfigTransactionFailed(tx, entry.id, failure);
        return { row: (await findConfigTransaction(tx, entry.id))! };
      },
      options,
    );
  let recorded: { row: ConfigTransactionRow; conflict?: string };
  try {
    recorded = await record(item);
  } catch (err) {
    // Only a data error (class 22) means PostgreSQL cannot store the entry as given. Thrown on,
    // it would fail the batch for ever: record a storable copy instead, failed with the reason
    // (final, so a retry never applies it). Anything else (57014, a lost connection) is retried.
    if (!unstorable(err)) throw err;
    const noNul = (v: string) => cleanReason(v, 200) || '(none)';
    const storable: QueuedConfigTransaction = {
      ...item,
      kind: noNul(item.kind),
      payload: { omitted: 'payload could not be stored' },
      source: noNul(item.source),
      submittedAt: (deps.clock?.() ?? new Date()).toISOString(),
    };
    recorded = await record(storable, `invalid transaction: cannot be stored: ${permanentReason(err)}`);
  }
  const own = await finish(deps, scope, item, recorded.row, options);
  if (recorded.conflict === undefined) return own;
  return { id: item.id, status: 'conflict', sequence: recorded.row.sequence, reason: recorded.conflict, duplicate: true };
}

/** Second step: applies (or fails) a pending row; a settled row answers with its outcome. */
async function finish(
  deps: ActivityDeps,
  scope: ActivityScope,
  item: QueuedConfigTransaction,
  recorded: ConfigTransactionRow,
  options: { workflowId?: string; activity?: string; attempt: number },
): Promise<ConfigOutcome> {
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
      let failure = parsed.ok ? undefined : cleanReason(`invalid transaction: ${parsed.error}`);
      let version = 0;
      if (parsed.ok) {
        await tx.query('SAVEPOINT apply_change');
        try {
          version = await bumpConfigVersion(tx);
          const summary = await applyChange(tx, parsed.value, version, row.amount_format);
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
        for (const entry of entries) outcomes.push(await applyOne(deps, scope, storableTicket(entry)));
        return outcomes;
      } catch (err) {
        // Only retryable failures leave this activity: what is permanent became a failed outcome
        // above, so what is left is transient, and a non-retryable failure would end the siphon.
        scope.logger.warn({ err, done: outcomes.length, of: entries.length }, 'applyConfigBatch failed; Temporal retries it');
        const e = err as Error | undefined;
        throw ApplicationFailure.retryable(
          cleanReason(`${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`),
          'ConfigApplyRetry',
        );
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
