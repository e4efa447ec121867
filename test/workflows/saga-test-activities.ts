import { ApplicationFailure } from '@temporalio/common';

/**
 * Test activities for the saga tests. They run in the test process (activities are
 * not sandboxed), so the test reads and steers them through this probe.
 */
export interface SagaProbe {
  /** Every call in order: "step:a", "undo:a". */
  calls: string[];
  /** The reason each compensation was given. */
  reasons: string[];
  /** Compensations that fail (retryably) while their step name is in here. */
  brokenUndos: Set<string>;
  /** Step name → effect recorded by the step (a step may take effect and still fail). */
  effects: Set<string>;
  /** A gate the gated step waits behind, so a test can act while the step is in flight. */
  gate: Gate;
}

export interface Gate {
  started: boolean;
  open(): void;
  opened: Promise<void>;
}

function newGate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { started: false, open, opened };
}

export const newSagaProbe = (): SagaProbe => ({
  calls: [],
  reasons: [],
  brokenUndos: new Set(),
  effects: new Set(),
  gate: newGate(),
});

export function createSagaTestActivities(probe: SagaProbe) {
  return {
    async sagaTestStep(i: { name: string; fail?: boolean }): Promise<string> {
      probe.calls.push(`step:${i.name}`);
      probe.effects.add(i.name);
      if (i.fail) {
        // Takes effect, then reports a failure: its compensation must still run.
        throw ApplicationFailure.create({ type: 'StepBroke', message: `step ${i.name} broke`, nonRetryable: true });
      }
      return `${i.name}:done`;
    },
    /** Starts, waits until the test opens the gate, then takes effect (it does not heartbeat). */
    async sagaTestGatedStep(i: { name: string }): Promise<string> {
      probe.calls.push(`start:${i.name}`);
      probe.gate.started = true;
      await probe.gate.opened;
      probe.calls.push(`step:${i.name}`);
      probe.effects.add(i.name);
      return `${i.name}:done`;
    },
    async sagaTestUndo(i: { name: string; reason: string }): Promise<void> {
      probe.calls.push(`undo:${i.name}`);
      if (probe.brokenUndos.has(i.name)) throw new Error(`undo of ${i.name} is broken`);
      probe.reasons.push(i.reason);
      probe.effects.delete(i.name);
    },
  };
}

export type SagaTestActivities = ReturnType<typeof createSagaTestActivities> & SagaLedgerTestActivities;

/** Implemented on the real ledger in test/integration/saga-ledger-activities.ts. */
export interface SagaLedgerTestActivities {
  sagaTestReleaseOrRefund(i: {
    holdKey: string;
    captureKey: string;
    workflowId: string;
  }): Promise<{ released: string; refunded: boolean }>;
}
