import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ConfigOutcome, ConfigTransactionRequest, QueuedConfigTransaction } from '../domain/config';
import type { SiphonStateName } from '../domain/siphon-state';

/** The siphon's well-known id: one per namespace. Tests use their own. */
export const CONFIG_SIPHON_WORKFLOW_ID = 'config-siphon';

/** Update rejection type while the siphon stops or rotates to a new run: the client retries. */
export const SIPHON_NOT_ACCEPTING = 'SiphonNotAccepting';

export interface ConfigSiphonInput {
  /** Continue as new after this many transactions in one run (tests force it; default 2,000). */
  continueAsNewAfter?: number;
  /** Continue as new after this many signals received in one run (default 5,000; the server allows 10,000). */
  rotateAfterSignals?: number;
  /**
   * Most queued transactions handed to one apply activity (default 50). They are still
   * applied one at a time, in order; batching only saves round trips through Temporal.
   */
  maxBatch?: number;
  /** Start-to-close timeout of one apply attempt, in seconds (default 30). */
  applyTimeoutSeconds?: number;
  /** State handed from the previous run by continueAsNew. */
  carried?: CarriedSiphonState;
}

export interface CarriedSiphonState {
  queue: QueuedConfigTransaction[];
  processedTotal: number;
  recent: ConfigOutcome[];
  run: number;
  /** Enqueue counter, so tickets stay unique across runs. */
  enqueued: number;
  stopping: boolean;
  /** Recent update id → outcome pairs, so an update retried into this run is answered, not applied again. */
  answered?: Array<[string, ConfigOutcome]>;
}

export interface SiphonStateView {
  state: SiphonStateName;
  queueDepth: number;
  lastSequence: number;
  configVersion: number;
  /** Transactions applied or failed by this workflow id across continueAsNew runs. */
  processedTotal: number;
  processedThisRun: number;
  /** 1 for the first run, +1 at each continueAsNew. */
  run: number;
  /** The last few outcomes, newest last. */
  recent: ConfigOutcome[];
}

export interface SiphonSummary {
  processedTotal: number;
  lastSequence: number;
  configVersion: number;
  runs: number;
}

/** Fire and forget: recorded durably by Temporal, applied in arrival order. */
export const submitConfigSignal = defineSignal<[ConfigTransactionRequest]>('submitConfig');
/** Submits and waits: returns the outcome once applied; malformed payloads are rejected before queuing. */
export const applyConfigUpdate = defineUpdate<ConfigOutcome, [ConfigTransactionRequest]>('applyConfig');
export const siphonStateQuery = defineQuery<SiphonStateView>('siphonState');
/** Stop accepting, drain the queue, complete. */
export const shutdownSiphonSignal = defineSignal('shutdown');
/** Re-read the position (sequence, version) from PostgreSQL before applying more. */
export const reloadSiphonSignal = defineSignal('reloadConfig');
