import { z } from 'zod';

/** Shared zod building blocks for payloads that cross a boundary. */

export const assetCode = z
  .string({ error: 'asset must be a string' })
  .regex(/^[A-Z][A-Z0-9]{1,11}$/, 'asset must be an upper-case code such as "USD" or "BTC"');

/** Minor units as a decimal string: positive, no sign, no exponent, fits numeric(38,0). */
export const minorUnits = z
  .string({ error: 'amount must be a decimal string of minor units' })
  .regex(/^[1-9][0-9]{0,37}$/, 'amount must be a positive whole number of minor units, without sign or exponent');

export const uuid = z.uuid({ error: 'must be a UUID' });

/** Formats zod issues as "field: message; field: message" so the caller can see what to fix. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'input'}: ${issue.message}`).join('; ');
}
