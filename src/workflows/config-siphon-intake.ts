import { uuid4 } from '@temporalio/workflow';
import {
  cleanReason,
  jsonBytes,
  MAX_PAYLOAD_BYTES,
  parseConfigTransaction,
  transactionId,
  type QueuedConfigTransaction,
} from '../domain/config';

/**
 * Turning what arrives into queue entries. Pure except for workflow time and the
 * SDK's deterministic uuid4, so replay produces the same entries.
 */

const text = (v: unknown, fallback: string, max: number): string =>
  typeof v === 'string' && v !== '' ? cleanReason(v, max) || fallback : fallback;

/** Options that depend on the run's patch level, so old runs build the entries they always built. */
export interface IntakeOptions {
  /** Amounts in new entries are human decimals (`amounts: 'human'`). */
  humanAmounts: boolean;
  /** Reasons stripped of NUL and capped; payloads measured in UTF-8 bytes. */
  hardened: boolean;
}
const LEGACY: IntakeOptions = { humanAmounts: false, hardened: false };

type Parsed = Extract<ReturnType<typeof parseConfigTransaction>, { ok: true }>['value'];

/** A well-formed transaction as a queue entry: its ticket, and a source and time when the sender gave none. */
const accepted = (t: Parsed, ticket: string, via: 'update' | 'signal', o: IntakeOptions): QueuedConfigTransaction => ({
  ticket,
  id: t.id,
  kind: t.kind,
  payload: t.payload,
  source: t.source ?? via,
  submittedAt: t.submittedAt ?? new Date().toISOString(),
  via,
  ...(o.humanAmounts ? { amounts: 'human' as const } : {}),
});

/** An update's payload already passed the validator; it only gets its ticket and times. */
export function entryFromUpdate(raw: unknown, ticket: string, o: IntakeOptions = LEGACY): QueuedConfigTransaction {
  const parsed = parseConfigTransaction(raw);
  // Unreachable after the validator; kept total.
  return parsed.ok ? accepted(parsed.value, ticket, 'update', o) : entryFromSignal(raw, ticket, o);
}

/**
 * A signal cannot be refused, so anything arrives here. A malformed one is queued
 * anyway with its reason: it takes its place in the order and is recorded failed,
 * rather than crashing the siphon or vanishing.
 */
export function entryFromSignal(raw: unknown, ticket: string, o: IntakeOptions = LEGACY): QueuedConfigTransaction {
  const parsed = parseConfigTransaction(raw);
  if (parsed.ok) return accepted(parsed.value, ticket, 'signal', o);
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const id = transactionId.safeParse(r.id);
  const size = o.hardened ? jsonBytes(r.payload) : legacyChars(r.payload);
  return {
    ticket,
    // Without a usable id it still needs one, unique and stable under replay.
    id: id.success ? id.data : `invalid-signal-${uuid4()}`,
    kind: o.hardened ? text(r.kind, '(missing)', 200) : legacyText(r.kind, '(missing)', 200),
    payload: size !== undefined && size <= MAX_PAYLOAD_BYTES ? (r.payload ?? null) : { omitted: 'payload too large or not JSON' },
    source: o.hardened ? text(r.source, 'signal', 200) : legacyText(r.source, 'signal', 200),
    submittedAt: new Date().toISOString(),
    via: 'signal',
    // The reason repeats what the sender wrote (unknown keys, NUL and all): clean and cap it.
    rejected: o.hardened ? cleanReason(parsed.error) : parsed.error,
  };
}

const legacyText = (v: unknown, fallback: string, max: number): string =>
  typeof v === 'string' && v !== '' ? v.slice(0, max) : fallback;
const legacyChars = (payload: unknown): number | undefined => {
  try {
    return JSON.stringify(payload ?? null).length;
  } catch {
    return undefined;
  }
};

/** Well below Temporal's 2 MB payload limit, whatever the entries' sizes. */
export const MAX_BATCH_BYTES = 256 * 1024;

/** Serialised UTF-8 bytes of a whole queue entry (payload, reason, everything Temporal carries). */
export const entryBytes = (e: QueuedConfigTransaction): number => jsonBytes(e) ?? MAX_BATCH_BYTES;

/**
 * The next entries to apply: a count limit and a size limit, so the activity input stays small.
 * `hardened` measures whole entries in bytes; without it, payload characters (what old runs did).
 */
export function takeBatch(queue: QueuedConfigTransaction[], maxCount: number, hardened = false): QueuedConfigTransaction[] {
  let size = 0;
  let n = 0;
  while (n < queue.length && n < maxCount) {
    size += hardened ? entryBytes(queue[n]!) : JSON.stringify(queue[n]!.payload ?? null).length;
    if (n > 0 && size > MAX_BATCH_BYTES) break;
    n++;
  }
  return queue.slice(0, n);
}
