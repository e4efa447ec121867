import { styleText } from 'node:util';

/**
 * The one printer every command goes through: tables and short lines for people,
 * `--json` for scripts, and errors as `<Type>: <what happened> — <what to do>`.
 */

/** Exit codes, documented in `--help` and the README. */
export const EXIT = { ok: 0, failed: 1, badInput: 2, unreachable: 3, interrupted: 130 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error already worded for a person; the printer adds nothing but its type. */
export class CliError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly hint: string | undefined,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = type;
  }
}

export const badInput = (type: string, message: string, hint?: string): CliError =>
  new CliError(type, message, hint, EXIT.badInput);
export const failed = (type: string, message: string, hint?: string): CliError => new CliError(type, message, hint, EXIT.failed);
export const unreachable = (message: string, hint?: string): CliError =>
  new CliError('Unreachable', message, hint, EXIT.unreachable);

type Style = Parameters<typeof styleText>[0];

/** Colour only on a terminal, and never when NO_COLOR is set. */
export function paint(style: Style, text: string, stream: NodeJS.WriteStream = process.stdout): string {
  if (!stream.isTTY || process.env.NO_COLOR) return text;
  return styleText(style, text);
}

export interface Output {
  json: boolean;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

/** Progress and hints go to stderr, so stdout stays the command's answer. */
export function note(text: string): void {
  process.stderr.write(`${paint('dim', text, process.stderr)}\n`);
}

export type Cell = string | number | null | undefined;

/** A plain table: a header row and aligned columns. */
export function printTable(columns: Array<[key: string, title: string]>, rows: Array<Record<string, Cell>>): void {
  const text = (c: Cell) => (c === null || c === undefined ? '' : String(c));
  const widths = columns.map(([key, title]) => Math.max(title.length, ...rows.map((r) => text(r[key]).length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  printLine(paint('bold', line(columns.map(([, title]) => title))));
  for (const r of rows) printLine(line(columns.map(([key]) => text(r[key]))));
  if (rows.length === 0) printLine(paint('dim', '(none)'));
}

/** One record as `label  value` lines, for a single object. */
export function printRecord(fields: Array<[label: string, value: Cell]>): void {
  const shown = fields.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(...shown.map(([label]) => label.length));
  for (const [label, value] of shown) printLine(`${paint('dim', label.padEnd(width))}  ${String(value)}`);
}

/** Prints the error as one line (more only for lists of problems) and returns the exit code. */
export function printError(err: CliError): ExitCode {
  const hint = err.hint ? ` — ${err.hint}` : '';
  process.stderr.write(`${paint('red', `${err.type}:`, process.stderr)} ${err.message}${hint}\n`);
  return err.exitCode;
}
