import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/logger';

/** The current test file's log buffer, kept by test/helpers/environment.js; undefined elsewhere. */
function buffer(): string[] | undefined {
  return (globalThis as { __txmgrLog?: string[] }).__txmgrLog;
}

/** Appends lines to the test's log, printed only if the test fails (e.g. a child process's output). */
export function testLog(text: string): void {
  const lines = buffer();
  if (lines) lines.push(text);
  else process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** A pino logger whose lines go to the test's log buffer instead of the terminal. */
export function createTestLogger(level = process.env.TEST_LOG_LEVEL ?? 'warn', name = 'txmgr-test'): Logger {
  const sink = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      testLog(chunk.toString());
      done();
    },
  });
  return pino({ name, level }, sink);
}
