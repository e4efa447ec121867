import { v5 as uuidv5 } from 'uuid';
import { stepId, TXMGR_ID_NAMESPACE } from './ids';
import type { Resource } from './operations';

/** The idempotency key of operation `position` of transaction `txId`: every id it writes derives from it. */
export const opKey = (txId: string, position: number): string => `tx:${txId}:op:${position}`;

/** The operation's journal row id (tx_operations.op_id). */
export const opIdFor = (txId: string, position: number): string => stepId(`${opKey(txId, position)}:journal`);

/** The key of the global transaction ids of a 2pc workflow. */
export const gidKeyFor = (workflowId: string): string => uuidv5(`2pc:${workflowId}`, TXMGR_ID_NAMESPACE);

/** PREPARE TRANSACTION's global id for one participant: "txmgr:<gid key>:<resource>". */
export const gidFor = (gidKey: string, resource: Resource): string => `txmgr:${gidKey}:${resource}`;

export const GID_PATTERN = /^txmgr:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(ledger|custody)$/;
