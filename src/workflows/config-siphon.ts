import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  currentUpdateInfo,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  cleanReason,
  jsonBytes,
  parseConfigTransaction,
  type ConfigOutcome,
  type QueuedConfigTransaction,
} from '../domain/config';
import { SiphonStateMachine } from '../domain/siphon-state';
import { SIPHON_STATE } from '../temporal/search-attributes';
import { entryFromSignal, entryFromUpdate, takeBatch } from './config-siphon-intake';
import {
  applyConfigUpdate,
  reloadSiphonSignal,
  shutdownSiphonSignal,
  SIPHON_NOT_ACCEPTING,
  siphonStateQuery,
  submitConfigSignal,
  type ConfigSiphonInput,
  type SiphonSummary,
} from './config-siphon-messages';

export * from './config-siphon-messages';

const RECENT_OUTCOMES = 10;
/** Update id → outcome pairs kept (and carried) so a retried update is answered, not applied again. */
const ANSWERED_UPDATES = 200;
const DEFAULT_CONTINUE_AS_NEW_AFTER = 2_000;
/** The server takes at most 10,000 signals per run; rotate well before, leaving room while draining. */
const DEFAULT_ROTATE_AFTER_SIGNALS = 5_000;
const DEFAULT_MAX_BATCH = 50;
/** What continueAsNew carries must stay well under Temporal's 2 MB payload limit. */
const MAX_CARRIED_BYTES = 1024 * 1024;
const MAX_CARRIED_CHARS_LEGACY = 1024 * 1024;
const carriedChars = (queue: QueuedConfigTransaction[]): number => queue.reduce((n, e) => n + JSON.stringify(e).length, 0);
/**
 * Marks runs that count signals in the rotation rule, keep the batch size while draining,
 * measure in UTF-8 bytes, take the update id as the ticket, carry answered updates, never fail
 * on an activity failure and queue human amounts. Runs without it keep what they always did.
 */
export const SIPHON_HARDENING_PATCH = 'config-siphon-hardening-2026-11';

/**
 * The config siphon: one per namespace, started by signal-with-start or
 * update-with-start. Handlers only enqueue; this single loop applies, one
 * transaction at a time, in arrival order. The queue and counters survive
 * continueAsNew; sequence and version live in PostgreSQL, so a new run after a
 * shutdown continues where the last one stopped.
 */
export async function configSiphon(input: ConfigSiphonInput = {}): Promise<SiphonSummary> {
  const carried = input.carried;
  const continueAsNewAfter = Math.max(1, input.continueAsNewAfter ?? DEFAULT_CONTINUE_AS_NEW_AFTER);
  const rotateAfterSignals = Math.max(1, input.rotateAfterSignals ?? DEFAULT_ROTATE_AFTER_SIGNALS);
  // Decided once, at the run's first task: the whole run behaves one way.
  const hardened = patched(SIPHON_HARDENING_PATCH);
  const intake = { hardened, humanAmounts: hardened };
  const maxBatch = Math.max(1, input.maxBatch ?? DEFAULT_MAX_BATCH);
  // Activity retries are unlimited: the activity itself turns every permanent error
  // into a failed outcome, so what reaches Temporal is transient and must not skip a transaction.
  const acts = proxyActivities<Activities>({
    startToCloseTimeout: `${input.applyTimeoutSeconds ?? 30} seconds`,
    retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '10 seconds' },
  });

  const queue: QueuedConfigTransaction[] = [...(carried?.queue ?? [])];
  const recent: ConfigOutcome[] = [...(carried?.recent ?? [])];
  const updateResults = new Map<string, ConfigOutcome>();
  const answered = new Map<string, ConfigOutcome>(carried?.answered ?? []);
  let signalsThisRun = 0;
  let enqueued = carried?.enqueued ?? 0;
  let processedTotal = carried?.processedTotal ?? 0;
  let processedThisRun = 0;
  let lastSequence = 0;
  let configVersion = 0;
  let shutdownRequested = carried?.stopping ?? false;
  let reloadRequested = false;
  let rotating = false;
  const run = (carried?.run ?? 0) + 1;

  const machine = new SiphonStateMachine('booting', (to) => upsertSearchAttributes([{ key: SIPHON_STATE, value: to }]));
  upsertSearchAttributes([{ key: SIPHON_STATE, value: machine.state }]);
  // The run id keeps tickets unique across runs; the counter, within one.
  const nextTicket = () => `${workflowInfo().runId}:${++enqueued}`;

  setHandler(submitConfigSignal, (raw: unknown) => {
    signalsThisRun++;
    queue.push(entryFromSignal(raw, nextTicket(), intake));
  });
  setHandler(
    applyConfigUpdate,
    async (raw: unknown) => {
      // The update id is the ticket: a retry of one update in a later run is its own retry, not a duplicate.
      const updateId = currentUpdateInfo()?.id;
      const ticket = hardened && updateId ? `update:${updateId}` : nextTicket();
      const earlier = updateId === undefined ? undefined : answered.get(updateId);
      if (hardened && earlier && earlier.id === (raw as { id?: unknown } | null)?.id) return earlier;
      const entry = entryFromUpdate(raw, ticket, intake);
      queue.push(entry);
      await condition(() => updateResults.has(entry.ticket));
      const outcome = updateResults.get(entry.ticket)!;
      updateResults.delete(entry.ticket);
      return outcome;
    },
    {
      // Runs before anything is written to history: a rejected update leaves no trace.
      validator: (raw: unknown) => {
        if (shutdownRequested || rotating) {
          throw ApplicationFailure.create({
            type: SIPHON_NOT_ACCEPTING,
            message: shutdownRequested
              ? 'the siphon is stopping; submit again to start a new run'
              : 'the siphon is moving to a new run; submit again',
            nonRetryable: true,
          });
        }
        const parsed = parseConfigTransaction(raw);
        if (!parsed.ok)
          throw ApplicationFailure.create({
            type: 'ValidationError',
            message: `invalid config transaction: ${parsed.error}`,
            nonRetryable: true,
          });
      },
    },
  );
  setHandler(shutdownSiphonSignal, () => {
    signalsThisRun++;
    shutdownRequested = true;
  });
  setHandler(reloadSiphonSignal, () => {
    signalsThisRun++;
    reloadRequested = true;
  });
  setHandler(siphonStateQuery, () => ({
    state: machine.state,
    queueDepth: queue.length,
    lastSequence,
    configVersion,
    processedTotal,
    processedThisRun,
    run,
    recent: [...recent],
  }));

  const loadPosition = async () => {
    const position = await acts.loadSiphonPosition();
    lastSequence = position.lastSequence;
    configVersion = position.configVersion;
  };
  const rotationDue = () =>
    processedThisRun >= continueAsNewAfter ||
    (hardened && signalsThisRun >= rotateAfterSignals) ||
    workflowInfo().continueAsNewSuggested;
  const carriedState = () => ({
    queue,
    processedTotal,
    recent,
    run,
    enqueued,
    stopping: shutdownRequested,
    ...(hardened ? { answered: [...answered] } : {}),
  });
  const fitsCarried = () =>
    hardened ? (jsonBytes(carriedState()) ?? Infinity) <= MAX_CARRIED_BYTES : carriedChars(queue) <= MAX_CARRIED_CHARS_LEGACY;

  await loadPosition();
  machine.to(shutdownRequested ? 'stopping' : 'running');

  for (;;) {
    await condition(() => queue.length > 0 || shutdownRequested || reloadRequested || rotationDue());
    if (shutdownRequested && !machine.is('stopping')) machine.to('stopping');
    if (reloadRequested && machine.is('running')) {
      reloadRequested = false;
      machine.to('reloading');
      await loadPosition();
      // A shutdown that arrived while reloading wins; otherwise back to work.
      machine.to(shutdownRequested ? 'stopping' : 'running');
      continue;
    }
    if (rotationDue()) {
      // New updates are refused (the client retries them against the next run); the ones
      // already queued must get their answer in this run, so apply up to the last of them.
      // A queue too large to carry is applied until it fits (signals cannot be refused).
      rotating = true;
      if (!queue.some((e) => e.via === 'update') && fitsCarried()) {
        await condition(allHandlersFinished);
        log.info('config siphon continuing as new', { queued: queue.length, processedTotal, run, signalsThisRun });
        await continueAsNew<typeof configSiphon>({ ...input, carried: carriedState() });
      }
    }
    if (queue.length === 0) {
      if (!machine.is('stopping')) continue;
      // Drained. Signals that reach this run before it completes are applied too: a
      // signal in history cannot be refused, and dropping it would lose it.
      await condition(allHandlersFinished);
      if (queue.length > 0) continue;
      machine.to('stopped');
      return { processedTotal, lastSequence, configVersion, runs: run };
    }

    // Entries stay queued until applied, so the query counts them and continueAsNew never
    // happens with some of them in flight.
    // While draining for rotation the batch keeps its normal size (old runs dropped to one).
    const room = Math.max(1, continueAsNewAfter - processedThisRun);
    const batch = takeBatch(queue, hardened && rotating ? maxBatch : Math.min(maxBatch, room), hardened);
    let outcomes: ConfigOutcome[];
    try {
      outcomes = await acts.applyConfigBatch(batch);
    } catch (err) {
      // The activity throws only retryable errors; should anything still end its retries,
      // the siphon waits and tries again rather than fail and lose its queue.
      if (!hardened) throw err;
      log.error('applyConfigBatch gave up; trying the batch again', { error: String(err) });
      await sleep('30 seconds');
      continue;
    }
    queue.splice(0, batch.length);
    for (const [i, outcome] of outcomes.entries()) {
      const entry = batch[i]!;
      processedThisRun++;
      processedTotal++;
      if (!outcome.duplicate) {
        // A sequence that is not the next one means someone else moved config: re-read it.
        if (outcome.sequence !== lastSequence + 1) reloadRequested = true;
        lastSequence = Math.max(lastSequence, outcome.sequence);
        if (outcome.status === 'applied') configVersion = Math.max(configVersion, outcome.configVersion);
      }
      const kept = hardened && 'reason' in outcome ? { ...outcome, reason: cleanReason(outcome.reason) } : outcome;
      recent.push(kept);
      if (entry.via === 'update') {
        updateResults.set(entry.ticket, kept);
        if (hardened && entry.ticket.startsWith('update:')) answered.set(entry.ticket.slice('update:'.length), kept);
      }
    }
    if (recent.length > RECENT_OUTCOMES) recent.splice(0, recent.length - RECENT_OUTCOMES);
    for (const key of answered.keys()) {
      if (answered.size <= ANSWERED_UPDATES) break;
      answered.delete(key);
    }
  }
}
