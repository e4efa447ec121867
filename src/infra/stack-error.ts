import { inspect } from 'node:util';

/** A failure of the embedded stack that a person can act on: what happened, what to do, an exit code. */
export class StackError extends Error {
  override name = 'StackError';
  constructor(
    message: string,
    readonly hint: string,
    readonly exitCode = 1,
    /** Printed after the sentence: the last lines of a service's log. */
    readonly details?: string,
  ) {
    super(message);
  }
}

function messageOf(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length) {
    // Node's connection errors (ECONNREFUSED on ::1 and 127.0.0.1) carry an empty message of their own.
    return [...new Set(err.errors.map(messageOf))].join('; ');
  }
  if (err instanceof Error) {
    const own = err.message.trim() || (err as NodeJS.ErrnoException).code || err.name;
    const cause = err.cause !== undefined && err.cause !== err ? messageOf(err.cause) : '';
    return cause && !own.includes(cause) ? `${own}: ${cause}` : own;
  }
  if (typeof err === 'string') return err.trim() || 'an empty error';
  if (err === undefined || err === null) return 'an unknown error (nothing was thrown with it)';
  return inspect(err, { depth: 3, breakLength: Infinity });
}

/** One sentence for a top-level failure: the error's message and what to do. */
export function describeFailure(err: unknown, defaultHint: string): string {
  if (err instanceof StackError) return `${err.message} — ${err.hint}${err.details ? `\n${err.details}` : ''}`;
  return `${messageOf(err)} — ${defaultHint}`;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof StackError ? err.exitCode : 1;
}
