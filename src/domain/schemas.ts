import { z } from 'zod';

/**
 * Shared zod building blocks for payloads that cross a boundary. Identifiers come out
 * canonical — UUIDs trimmed and lower case (as PostgreSQL returns them), asset codes
 * trimmed and upper case — so a retry never conflicts with its own first attempt and
 * a lookup never misses a row over letter case.
 */

export const assetCode = z
  .string({ error: 'asset must be a string' })
  .trim()
  .toUpperCase()
  .regex(/^[A-Z][A-Z0-9]{1,11}$/, 'asset must be an upper-case code such as "USD" or "BTC"');

/** Minor units as a decimal string: positive, no sign, no exponent, fits numeric(38,0). */
export const minorUnits = z
  .string({ error: 'amount must be a decimal string of minor units' })
  .regex(/^[1-9][0-9]{0,37}$/, 'amount must be a positive whole number of minor units, without sign or exponent');

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUID in its canonical text form: trimmed, lower case, hyphenated. */
export const uuid = z.string({ error: 'must be a UUID' }).trim().toLowerCase().regex(UUID_TEXT, 'must be a UUID');

/**
 * A bank reference is the bank's own identifier: trimmed, but its letter case is kept
 * as the bank issued it (references are matched against bank statements verbatim).
 */
export const bankReference = z
  .string({ error: 'bankReference must be a string' })
  .trim()
  .min(1, 'bankReference must not be empty')
  .max(64, 'bankReference must be at most 64 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]*$/, 'bankReference may hold letters, digits and . _ : / - only');

/** Canonical forms for values that did not come through a schema (direct calls, stored state). */
export const canonicalUuid = (value: string): string => value.trim().toLowerCase();
export const canonicalAsset = (value: string): string => value.trim().toUpperCase();

/** The field the first issue is about ("input" for the whole value), for a ValidationError's `field` detail. */
export function issueField(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'input';
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  return path.join('.') || 'input';
}

/** Formats zod issues as "field: message; field: message" so the caller can see what to fix. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : 'input'}: ${issue.message}`).join('; ');
}
