import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger };

/**
 * Keys whose values never reach a log line: credentials, secrets and personal data (names,
 * bank details). Matched at the top level and two levels down (`{ input: { senderName } }`,
 * `{ err: { details: { apiKey } } }`).
 */
export const REDACTED_KEYS = [
  // credentials and secrets
  'password',
  'databaseUrl',
  'totpSecret',
  'totp_secret',
  'totpCode',
  'otp',
  'secret',
  'apiKey',
  'api_key',
  'apiKeyHash',
  'authorization',
  'cookie',
  'token',
  // personal data
  'senderName',
  'sender_name',
  'owner',
  'reviewer',
  'fullName',
  'holderName',
  'accountHolder',
  'address',
  // bank details
  'iban',
  'bic',
  'accountNumber',
  'account_number',
  'routingNumber',
  'bankAccount',
  'bankDetails',
] as const;

const REDACT = REDACTED_KEYS.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]);

export const REDACTED = '[redacted]';

/** The one root logger; everything else is a child of it. `destination` is for tests and tools. */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? 'info',
  name = 'txmgr',
  destination?: DestinationStream,
): Logger {
  const options = { name, level, redact: { paths: REDACT, censor: REDACTED } };
  return destination ? pino(options, destination) : pino(options);
}
