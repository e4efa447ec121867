import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM under TXMGR_TOTP_KEY (64 hex digits), held by workers and the CLI only.
 * Seals TOTP secrets at rest and the one-time code on its way through Temporal, so
 * neither is ever in a log, a table or workflow history in the clear. The context
 * (account id, withdrawal id) is bound in as associated data: a sealed value cannot
 * be moved to another account or withdrawal.
 */
export const TOTP_KEY_VAR = 'TXMGR_TOTP_KEY';

export function loadTotpKey(env: NodeJS.ProcessEnv = process.env): Buffer {
  const hex = env[TOTP_KEY_VAR];
  if (!hex || !/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new Error(`${TOTP_KEY_VAR} must be 64 hex digits (32 random bytes), e.g. from: openssl rand -hex 32`);
  }
  return Buffer.from(hex, 'hex');
}

export function seal(key: Buffer, plaintext: string, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(context));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** undefined when the value was not sealed with this key and context (tampered, moved, another key). */
export function open(key: Buffer, sealed: string, context: string): string | undefined {
  const [version, iv, body, tag] = sealed.split('.');
  if (version !== 'v1' || !iv || !body || !tag) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

export const otpContext = (withdrawalId: string): string => `txmgr:otp:${withdrawalId}`;
export const secretContext = (accountId: string): string => `txmgr:totp-secret:${accountId}`;
