import { Secret, TOTP } from 'otpauth';

const PERIOD = 30;

const totpOf = (secretBase32: string, label = 'withdrawals') =>
  new TOTP({ issuer: 'txmgr', label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret: Secret.fromBase32(secretBase32) });

/** A new random secret (base32) and its otpauth:// URI for an authenticator app. */
export function newTotpSecret(label: string): { secret: string; uri: string } {
  const secret = new Secret({ size: 20 });
  const totp = new TOTP({ issuer: 'txmgr', label, algorithm: 'SHA1', digits: 6, period: PERIOD, secret });
  return { secret: secret.base32, uri: totp.toString() };
}

/**
 * The time step of `code` if it is valid now (one step of clock drift either way), else
 * undefined. The step, not the code, is what makes a code usable once only.
 */
export function acceptedTimeStep(secretBase32: string, code: string, now: Date): number | undefined {
  if (!/^[0-9]{6}$/.test(code)) return undefined;
  const delta = totpOf(secretBase32).validate({ token: code, timestamp: now.getTime(), window: 1 });
  if (delta === null) return undefined;
  return Math.floor(now.getTime() / 1000 / PERIOD) + delta;
}

/** Whether `code` is the code of TOTP time step `step` (a retry re-checking the step it claimed). */
export function codeOfStep(secretBase32: string, code: string, step: number): boolean {
  return /^[0-9]{6}$/.test(code) && totpOf(secretBase32).generate({ timestamp: step * PERIOD * 1000 }) === code;
}

/** The code for `at` (tests and the demo play the authenticator app). */
export const totpCode = (secretBase32: string, at: Date): string => totpOf(secretBase32).generate({ timestamp: at.getTime() });
