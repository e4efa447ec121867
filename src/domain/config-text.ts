/**
 * Text and size helpers for config transactions. Pure (no Buffer, no TextEncoder), so
 * the siphon workflow measures exactly what the activities and the client measure.
 */

/** Reasons (validation messages, database errors) are cut to this before they are queued, stored or carried. */
export const MAX_REASON_CHARS = 1000;

/** Bytes of `text` as UTF-8, counted without Buffer or TextEncoder so workflow code can use it. */
export function utf8Bytes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Serialised size of a value as Temporal carries it (JSON, UTF-8), or undefined when it is not JSON. */
export function jsonBytes(value: unknown): number | undefined {
  try {
    return utf8Bytes(JSON.stringify(value ?? null));
  } catch {
    return undefined;
  }
}

/**
 * Every reason taken in is made storable and small: PostgreSQL text cannot hold NUL
 * (22021), and an unbounded reason (zod repeats unknown keys) would grow batches and history.
 */
export function cleanReason(text: string, max = MAX_REASON_CHARS): string {
  const clean = text.split('\u0000').join('');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/**
 * What differs between two JSON values, as field paths ("payload.thresholds.0.reviewThreshold:
 * "5000.00" now, "4000.00" before"); empty when equal. Key order does not matter (jsonb has none).
 */
export function jsonDifferences(before: unknown, now: unknown, path = 'payload', max = 5): string[] {
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, at: string): void => {
    if (out.length >= max) return;
    const bothObjects = typeof a === 'object' && a !== null && typeof b === 'object' && b !== null;
    if (bothObjects && Array.isArray(a) === Array.isArray(b)) {
      const keys = Array.isArray(a)
        ? Array.from({ length: Math.max(a.length, (b as unknown[]).length) }, (_, i) => String(i))
        : [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      for (const k of keys) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      const show = (v: unknown) => (v === undefined ? 'absent' : cleanReason(JSON.stringify(v), 80));
      out.push(`${at}: ${show(b)} now, ${show(a)} before`);
    }
  };
  walk(before, now, path);
  return out;
}
