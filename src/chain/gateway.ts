import type { ChainNetwork } from '../domain/address';

/** A broadcast request: the withdrawal id is the idempotency key — the same id twice is one transaction. */
export interface BroadcastRequest {
  withdrawalId: string;
  asset: string;
  address: string;
  /** Minor units, as a decimal string. */
  amount: string;
}

export type ChainTxState = 'pending' | 'confirmed' | 'dropped' | 'abandoned';

export interface ChainTxStatus {
  withdrawalId: string;
  txId: string;
  state: ChainTxState;
  /** Blocks on top of (and including) the one holding the transaction; 0 while in the mempool. */
  confirmations: number;
  height: number;
}

/** The chain said no for good (a bad destination, a policy): the withdrawal fails, nothing was sent. */
export class ChainRejectedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainRejected';
  }
}

/**
 * What the withdrawal saga needs from a chain: broadcast a signed withdrawal, read its
 * confirmations, and abandon a dropped one (so it can never confirm after its hold was
 * released). A simulator implements it in tests and the demo; a real node or custodian
 * adapter can replace it without touching the saga. Transient faults are thrown as plain
 * errors (retried); a refusal as ChainRejectedError.
 */
export interface ChainGateway {
  /** The network addresses are checked against. */
  readonly network: ChainNetwork;
  broadcast(request: BroadcastRequest): Promise<ChainTxStatus>;
  /** undefined when the chain never saw this withdrawal id. */
  status(withdrawalId: string): Promise<ChainTxStatus | undefined>;
  /** Makes a dropped transaction final: never mined, never rebroadcast. False when it is already confirmed or pending. */
  abandon(withdrawalId: string): Promise<{ abandoned: boolean; status?: ChainTxStatus }>;
}
