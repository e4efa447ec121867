/** The statuses a saga reports (its sagaStatus query and TxmgrSagaStatus search attribute). */
export const SAGA_STATUSES = ['RUNNING', 'COMPENSATING', 'COMPENSATED', 'COMPLETED', 'FAILED', 'COMPENSATION_FAILED'] as const;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * How long a saga of each kind is expected to run; one running longer is listed as needing
 * attention by `txmgr sagas list`. A deposit may wait a day for a compliance review (the
 * default review timeout), so its allowance covers that; kinds not listed get an hour.
 */
export const EXPECTED_SAGA_MS: Readonly<Record<string, number>> = {
  deposit: 25 * HOUR,
  withdrawal: 6 * HOUR,
  // Its setup; an active campaign then runs until its end, which `sagas list` reads from its row.
  campaign: HOUR,
  // A taker; a resting order then waits for fills, which `sagas list` reads from its row.
  trade: 10 * MINUTE,
  // An operation list: at most its timeout (1 h), then the commit or rollback of every participant.
  'transaction-atomic': HOUR + 5 * MINUTE,
  'transaction-saga': HOUR + 5 * MINUTE,
  'transaction-2pc': HOUR + 5 * MINUTE,
};
export const DEFAULT_EXPECTED_SAGA_MS = HOUR;

/**
 * Kinds whose saga stays open while its order rests on the book (a GTC or GTD trade): running
 * long is then expected, not a fault. `txmgr sagas list` asks the order book, and flags such a
 * saga only when its order is closed while the saga still runs, or a GTD order stayed open
 * longer than this past its expiry (its durable timer should have closed it).
 */
export const RESTING_KINDS: readonly string[] = ['trade'];
export const RESTING_EXPIRY_GRACE_MS = 5 * MINUTE;

export const expectedSagaMs = (kind: string): number => EXPECTED_SAGA_MS[kind] ?? DEFAULT_EXPECTED_SAGA_MS;
