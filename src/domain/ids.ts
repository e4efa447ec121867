import { v5 as uuidv5 } from 'uuid';

/** Fixed namespace for txmgr's name-based (v5) ids; never change it, or replays would mint new ids. */
export const TXMGR_ID_NAMESPACE = '6f1c8f6e-3b0a-4c8e-9f55-2d7d1c0b9a41';

/**
 * A deterministic id for one saga step: the same workflow id and step always give
 * the same id, so a retried activity finds the row it wrote the first time.
 */
export const stepId = (idempotencyKey: string): string => uuidv5(idempotencyKey, TXMGR_ID_NAMESPACE);

/** The idempotency key of a step: workflow id and step name. */
export const stepKey = (workflowId: string, step: string): string => `${workflowId}:${step}`;
