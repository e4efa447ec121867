import pino, { type Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line: credentials and personal data. */
const REDACT = [
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'senderName',
  '*.senderName',
  '*.*.senderName',
  'address',
  '*.address',
];

/** The one root logger; everything else is a child of it. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', name = 'txmgr'): Logger {
  return pino({ name, level, redact: { paths: REDACT, censor: '[redacted]' } });
}
