import { validationError } from './errors';

/**
 * Money is integer minor units: bigint in code, decimal strings in payloads and
 * numeric(38,0) in PostgreSQL. Nothing here touches a float.
 */

/** Largest amount numeric(38,0) holds. */
export const MAX_AMOUNT = 10n ** 38n - 1n;
const MAX_DIGITS = 38;

const MINOR_UNITS = /^(0|[1-9][0-9]*)$/;
const HUMAN_DECIMAL = /^(0|[1-9][0-9]*)(\.([0-9]+))?$/;

/** An asset scale is an integer 0..36 (assets.scale); anything else is a programming error. */
function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > 36) throw new RangeError(`invalid asset scale ${scale}`);
}

/** Parses a decimal string of minor units ("12345") into a positive bigint. */
export function parseMinorUnits(value: unknown, field = 'amount'): bigint {
  if (typeof value !== 'string') {
    throw validationError(`${field} must be a decimal string of minor units, got ${typeof value}`, { field });
  }
  if (!MINOR_UNITS.test(value)) {
    throw validationError(`${field} must be a whole number of minor units without sign or exponent, got "${value}"`, {
      field,
    });
  }
  // No leading zeros, so more than 38 digits is out of range: refuse before BigInt,
  // whose parse of a megabyte-long digit string blocks the event loop for a second.
  if (value.length > MAX_DIGITS) throw validationError(`${field} is out of range`, { field });
  const amount = BigInt(value);
  if (amount <= 0n) throw validationError(`${field} must be greater than zero`, { field });
  if (amount > MAX_AMOUNT) throw validationError(`${field} is out of range`, { field });
  return amount;
}

/**
 * Converts a human decimal ("0.5") into minor units with the asset's scale.
 * Rejects signs, exponents, NaN, more fractional digits than the scale, zero and
 * anything that would not fit numeric(38,0).
 */
export function parseHumanAmount(value: unknown, scale: number, field = 'amount'): bigint {
  checkScale(scale);
  if (typeof value !== 'string') {
    throw validationError(`${field} must be a decimal string such as "10.50", got ${typeof value}`, { field });
  }
  const text = value.trim();
  const match = HUMAN_DECIMAL.exec(text);
  if (!match) {
    throw validationError(
      `${field} must be a plain positive decimal such as "10.50" (no sign, exponent or separators), got "${value}"`,
      { field },
    );
  }
  const whole = match[1] ?? '0';
  const fraction = match[3] ?? '';
  if (fraction.length > scale) {
    throw validationError(`${field} has ${fraction.length} decimal places but the asset allows ${scale}`, { field });
  }
  if (whole.length > MAX_DIGITS) throw validationError(`${field} is out of range`, { field }); // see parseMinorUnits
  const minor = BigInt(whole) * 10n ** BigInt(scale) + BigInt(fraction.padEnd(scale, '0') || '0');
  if (minor <= 0n) throw validationError(`${field} must be greater than zero`, { field });
  if (minor > MAX_AMOUNT) throw validationError(`${field} is out of range`, { field });
  return minor;
}

/** Formats minor units as a human decimal with exactly `scale` fractional digits. */
export function formatAmount(minor: bigint, scale: number): string {
  // Without this a bad scale formats silently into a different amount
  // (formatAmount(1n, -1) gave "1", formatAmount(123n, 2.5) gave ".123").
  checkScale(scale);
  const negative = minor < 0n;
  const digits = (negative ? -minor : minor).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${whole}${scale > 0 ? `.${fraction}` : ''}`;
}
