import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for txmgr's name-based (v5) ids; never change it, or replays would mint new ids. */
export const TXMGR_ID_NAMESPACE = '6f1c8f6e-3b0a-4c8e-9f55-2d7d1c0b9a41';

/**
 * Holds and captures have namespaces of their own (uuidv5 of "txmgr:holds" / "txmgr:captures"
 * in the one above), so one idempotency key can never name a transfer, a hold and a capture
 * with the same id. Plain transfers, deposits and events keep the original namespace: the ids
 * of every existing transfer (deposit credits, reversals) stay what they were.
 */
const HOLD_ID_NAMESPACE = 'cc2fe7a8-819d-5a1e-b715-176eaedd88b9';
const CAPTURE_ID_NAMESPACE = '1be99580-c570-5a4b-b27e-8333157755f4';

/**
 * A deterministic id for one saga step: the same workflow id and step always give
 * the same id, so a retried activity finds the row it wrote the first time.
 */
export const stepId = (idempotencyKey: string): string => uuidv5(idempotencyKey, TXMGR_ID_NAMESPACE);

/** The id of a plain transfer (not a capture) placed under this idempotency key. */
export const transferIdFor = stepId;

/** The id of the hold placed under this idempotency key. */
export const holdIdFor = (idempotencyKey: string): string => uuidv5(idempotencyKey, HOLD_ID_NAMESPACE);

/** The id of the capture transfer made under this idempotency key. */
export const captureIdFor = (idempotencyKey: string): string => uuidv5(idempotencyKey, CAPTURE_ID_NAMESPACE);

/**
 * Holds and captures written before they had namespaces of their own used `stepId`; a retry
 * of such a step must find that row (its `step` column holds the key) instead of writing anew.
 */
export const legacyStepId = stepId;

/** The idempotency key of a step: workflow id and step name. */
export const stepKey = (workflowId: string, step: string): string => `${workflowId}:${step}`;
