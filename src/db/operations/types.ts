/** Who an operation works for: its transaction, its position in it and the workflow. */
export interface OperationContext {
  txId: string;
  position: number;
  workflowId?: string;
}

/** What applying an operation did, and what undoes it (null: nothing to undo). */
export interface OperationEffect {
  ref: string;
  detail: string;
  result: Record<string, string>;
  undo: unknown;
}
