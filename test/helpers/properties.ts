/**
 * Case counts for the property-based tests. Each property names its share of the default
 * run (the shares add up to about 1,200 cases, a few seconds); FC_RUNS=N scales them so
 * the whole suite generates about N cases: npm run test:properties runs it with 12,000.
 */
export const DEFAULT_TOTAL_RUNS = 1_200;

export function numRuns(share: number): number {
  const total = Number(process.env.FC_RUNS);
  if (!Number.isFinite(total) || total <= 0) return share;
  return Math.max(1, Math.round((share * total) / DEFAULT_TOTAL_RUNS));
}
