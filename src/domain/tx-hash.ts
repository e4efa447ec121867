import { createHash } from 'node:crypto';
import type { TransactionInput } from './operations';

/** What makes two requests of one transaction id the same request: mode and operations (canonical, after parsing). */
export function requestHash(input: Pick<TransactionInput, 'mode' | 'operations'>): string {
  return createHash('sha256')
    .update(JSON.stringify({ mode: input.mode, operations: input.operations.map(canonical) }))
    .digest('hex');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
