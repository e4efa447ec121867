import { InvalidArgumentError, type Command } from 'commander';
import { CliContext } from './context';
import { toCliError } from './errors';
import { EXIT, type Output } from './printer';

/** Options every command understands (defined once on the program). */
export interface GlobalOptions {
  json?: boolean;
}

/** A required option, marked as such in `--help`. */
export function required(cmd: Command, flags: string, description: string, parse?: (v: string) => unknown): Command {
  return parse
    ? cmd.requiredOption(flags, `${description} (required)`, parse)
    : cmd.requiredOption(flags, `${description} (required)`);
}

/**
 * Wraps a command's body: makes the context (connections open lazily), passes the
 * output mode and always closes what was opened. Errors go to the one printer in main.
 */
export function handler<A extends unknown[]>(
  body: (ctx: CliContext, out: Output, ...args: A) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const out: Output = { json: cmd.optsWithGlobals<GlobalOptions>().json === true };
    const ctx = new CliContext();
    try {
      await body(ctx, out, ...(args.slice(0, -1) as A));
    } catch (err) {
      const e = toCliError(err, ctx);
      if (e.exitCode !== EXIT.unreachable) e.message = await ctx.humanAmounts(e.message);
      throw e;
    } finally {
      await ctx.close();
    }
  };
}

/** A positive whole number option, refused with a message naming the option. */
export const positiveInt =
  (name: string) =>
  (value: string): number => {
    if (!/^[1-9][0-9]{0,8}$/.test(value)) throw new InvalidOptionValue(`${name} must be a positive whole number, got "${value}"`);
    return Number(value);
  };

/** Thrown by option parsers; commander reports it and main prints it as bad input. */
export class InvalidOptionValue extends InvalidArgumentError {}
