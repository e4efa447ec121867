import type { z } from 'zod';
import type { TxmgrClient } from '../client';
import type { WorkflowStart } from './registry';

/**
 * Hooks for parts that plug into the API from elsewhere (the transaction core): each is
 * optional; a missing one answers 501 NotAvailable (execute) or reports itself absent (recovery).
 */
export interface ApiExtensions {
  /** POST /execute: an operation list run in one of the core's modes; returns the workflow it started. */
  execute?: {
    body: z.ZodType;
    start(client: TxmgrClient, body: unknown): Promise<WorkflowStart & { workflowType: string }>;
  };
  /** Part of POST /recovery/trigger: resolves in-doubt prepared transactions from the coordinator's decisions. */
  recoverPrepared?: (client: TxmgrClient) => Promise<{ resolved: number; details: unknown[] }>;
}

/** What this build plugs in. The transaction core sets `execute` and `recoverPrepared` here. */
export const API_EXTENSIONS: ApiExtensions = {};
