import { uuid4 } from '@temporalio/workflow';
import {
  MAX_PAYLOAD_CHARS,
  parseConfigTransaction,
  payloadSize,
  transactionId,
  type QueuedConfigTransaction,
} from '../domain/config';

/**
 * Turning what arrives into queue entries. Pure except for workflow time and the
 * SDK's deterministic uuid4, so replay produces the same entries.
 */

const text = (v: unknown, fallback: string, max: number): string =>
  typeof v === 'string' && v !== '' ? v.slice(0, max) : fallback;

type Parsed = Extract<ReturnType<typeof parseConfigTransaction>, { ok: true }>['value'];

/** A well-formed transaction as a queue entry: its ticket, and a source and time when the sender gave none. */
const accepted = (t: Parsed, ticket: string, via: 'update' | 'signal'): QueuedConfigTransaction => ({
  ticket,
  id: t.id,
  kind: t.kind,
  payload: t.payload,
  source: t.source ?? via,
  submittedAt: t.submittedAt ?? new Date().toISOString(),
  via,
});

/** An update's payload already passed the validator; it only gets its ticket and times. */
export function entryFromUpdate(raw: unknown, ticket: string): QueuedConfigTransaction {
  const parsed = parseConfigTransaction(raw);
  // Unreachable after the validator; kept total.
  return parsed.ok ? accepted(parsed.value, ticket, 'update') : entryFromSignal(raw, ticket);
}

/**
 * A signal cannot be refused, so anything arrives here. A malformed one is queued
 * anyway with its reason: it takes its place in the order and is recorded failed,
 * rather than crashing the siphon or vanishing.
 */
export function entryFromSignal(raw: unknown, ticket: string): QueuedConfigTransaction {
  const parsed = parseConfigTransaction(raw);
  if (parsed.ok) return accepted(parsed.value, ticket, 'signal');
  const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const id = transactionId.safeParse(r.id);
  const size = payloadSize(r.payload);
  return {
    ticket,
    // Without a usable id it still needs one, unique and stable under replay.
    id: id.success ? id.data : `invalid-signal-${uuid4()}`,
    kind: text(r.kind, '(missing)', 200),
    payload: size !== undefined && size <= MAX_PAYLOAD_CHARS ? (r.payload ?? null) : { omitted: 'payload too large or not JSON' },
    source: text(r.source, 'signal', 200),
    submittedAt: new Date().toISOString(),
    via: 'signal',
    rejected: parsed.error,
  };
}

/** Well below Temporal's 2 MB payload limit, whatever the entries' sizes. */
const MAX_BATCH_CHARS = 256 * 1024;

/** The next entries to apply: a count limit and a size limit, so the activity input stays small. */
export function takeBatch(queue: QueuedConfigTransaction[], maxCount: number): QueuedConfigTransaction[] {
  let chars = 0;
  let n = 0;
  while (n < queue.length && n < maxCount) {
    chars += JSON.stringify(queue[n]!.payload ?? null).length;
    if (n > 0 && chars > MAX_BATCH_CHARS) break;
    n++;
  }
  return queue.slice(0, n);
}
