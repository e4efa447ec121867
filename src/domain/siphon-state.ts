/**
 * The config siphon's lifecycle. The allowed transitions are data, so the tests
 * can walk every pair and the Web UI's search attribute can only show states the
 * siphon can really be in.
 *
 *   booting ──► running ⇄ reloading
 *      │           │          │
 *      └───────────┴──────────┴──► stopping ──► stopped
 *
 * booting:   a run starts and reads the last sequence and config version from PostgreSQL.
 * running:   applying queued transactions in arrival order.
 * reloading: re-reading the position from PostgreSQL (an operator asked, or config changed
 *            under the siphon), applying nothing meanwhile.
 * stopping:  shutdown requested: no new updates accepted; what is queued is drained.
 * stopped:   drained; the run completes. A later submission starts a new run.
 */
export const SIPHON_STATES = ['booting', 'running', 'reloading', 'stopping', 'stopped'] as const;
export type SiphonStateName = (typeof SIPHON_STATES)[number];

export const SIPHON_TRANSITIONS: Readonly<Record<SiphonStateName, readonly SiphonStateName[]>> = {
  booting: ['running', 'stopping'],
  running: ['reloading', 'stopping'],
  reloading: ['running', 'stopping'],
  stopping: ['stopped'],
  stopped: [],
};

export class IllegalSiphonTransition extends Error {
  override name = 'IllegalSiphonTransition';
  constructor(
    readonly from: SiphonStateName,
    readonly to: SiphonStateName,
  ) {
    super(`illegal siphon transition ${from} → ${to}; allowed from ${from}: ${SIPHON_TRANSITIONS[from].join(', ') || 'none'}`);
  }
}

export const canTransition = (from: SiphonStateName, to: SiphonStateName): boolean => SIPHON_TRANSITIONS[from].includes(to);

/** The next state, or a throw: an illegal transition is a bug in the siphon, never input to handle. */
export function transition(from: SiphonStateName, to: SiphonStateName): SiphonStateName {
  if (!canTransition(from, to)) throw new IllegalSiphonTransition(from, to);
  return to;
}

/** A small holder that calls back on every change (the workflow mirrors it to a search attribute). */
export class SiphonStateMachine {
  private current: SiphonStateName;

  constructor(
    initial: SiphonStateName = 'booting',
    private readonly onChange: (to: SiphonStateName, from: SiphonStateName) => void = () => undefined,
  ) {
    this.current = initial;
  }

  get state(): SiphonStateName {
    return this.current;
  }

  is(...states: SiphonStateName[]): boolean {
    return states.includes(this.current);
  }

  to(next: SiphonStateName): void {
    const from = this.current;
    this.current = transition(from, next);
    this.onChange(next, from);
  }
}
