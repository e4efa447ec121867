import fc from 'fast-check';

/**
 * Case counts for the property-based tests. Each property names its share of the default
 * run (the shares add up to DEFAULT_TOTAL_RUNS, under a minute); FC_RUNS=N scales them so
 * the whole suite generates about N cases: npm run test:properties runs it with 12,000.
 * Adding a property means adding its share here.
 */
export const DEFAULT_TOTAL_RUNS = 2_055;

export function numRuns(share: number): number {
  const total = Number(process.env.FC_RUNS);
  if (!Number.isFinite(total) || total <= 0) return share;
  return Math.max(1, Math.round((share * total) / DEFAULT_TOTAL_RUNS));
}

/** Generated bad input shared by the boundary properties. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** SQL-injection strings, for every text field a person or a program can fill in. */
export const INJECTION_STRINGS = [
  "x'; DROP TABLE deposits; --",
  "' OR '1'='1",
  'Robert"); DELETE FROM accounts; --',
  '$1; TRUNCATE transfers',
  "x'||(SELECT pg_sleep(5))||'",
  "\\'; UPDATE accounts SET credits_posted = 10^30; --",
] as const;
export const INJECTION = fc.constantFrom(...INJECTION_STRINGS);
/** Anything that is not a string. */
export const notString = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object());
export const notUuid = fc.oneof(
  notString,
  fc.string().filter((s) => !UUID.test(s.trim().toLowerCase())),
  INJECTION,
);
export const tooLong = (n: number) => fc.string({ minLength: n + 1, maxLength: n + 40 }).filter((s) => s.trim().length > n);
export const blank = fc.constantFrom('', ' ', '\t', '   \n');
export const withNul = fc.string({ maxLength: 20 }).map((s) => `a${s}\u0000b`);
/** A key no boundary knows, with any value. */
export const extraKey = fc.tuple(fc.constantFrom('amountMinor', 'admin', '__proto__x', 'sql', 'debitAccountId'), fc.anything());
/** Not a positive decimal amount a person would type. */
export const badHumanAmount = fc.oneof(
  notString,
  fc.constantFrom('0', '0.00', '-1', '1e3', 'NaN', '1,50', '', ' ', '10.5.0', `1${'0'.repeat(40)}`, 'Infinity', '0x10'),
  INJECTION,
  fc.bigInt({ min: 1n, max: 10n ** 12n }).map((n) => `-${n}`),
);

export type Mutation = { field: string; value: unknown; expectField: string };
export const mutate = (field: string, value: fc.Arbitrary<unknown>, expectField = field): fc.Arbitrary<Mutation> =>
  value.map((v) => ({ field, value: v, expectField }));
export const unknownKey: fc.Arbitrary<Mutation> = extraKey.map(([key, value]) => ({ field: key, value, expectField: key }));
