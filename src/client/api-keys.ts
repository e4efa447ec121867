import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { DomainError, validationError } from '../domain/errors';
import { describeIssues, issueField, uuid } from '../domain/schemas';
import { findApiKey, insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../db/queries/api-keys';

/**
 * API keys for the HTTP API. A key is `txk_<id>_<secret>` with 256 random bits of secret;
 * only its sha256 is stored, and the check compares hashes in constant time.
 */

export const API_SCOPES = ['read', 'execute', 'operate', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

const KEY_FORMAT = /^txk_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/;

export const ApiKeyCreateRequest = z
  .object({
    name: z.string().trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters'),
    scopes: z
      .array(z.enum(API_SCOPES, { error: `scopes must be among ${API_SCOPES.join(', ')}` }))
      .min(1, 'give at least one scope'),
  })
  .strict();
export type ApiKeyCreateRequest = z.input<typeof ApiKeyCreateRequest>;

export interface ApiKeyView {
  id: string;
  name: string;
  scopes: ApiScope[];
  createdAt: string;
  revokedAt: string | null;
}

/** The authenticated caller of a request. */
export interface ApiPrincipal {
  keyId: string;
  name: string;
  scopes: ApiScope[];
}

const hashKey = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();
const idText = (hex: string) =>
  `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

const view = (r: ApiKeyRow): ApiKeyView => ({
  id: r.id,
  name: r.name,
  scopes: r.scopes as ApiScope[],
  createdAt: r.created_at.toISOString(),
  revokedAt: r.revoked_at?.toISOString() ?? null,
});

/** Creates a key; the returned `key` is shown once and cannot be read back. */
export async function createApiKey(pool: Pool, request: ApiKeyCreateRequest): Promise<ApiKeyView & { key: string }> {
  const parsed = ApiKeyCreateRequest.safeParse(request);
  if (!parsed.success)
    throw validationError(`invalid API key: ${describeIssues(parsed.error)}`, { field: issueField(parsed.error) });
  const id = randomUUID();
  const key = `txk_${id.replace(/-/g, '')}_${randomBytes(32).toString('base64url')}`;
  const row = await insertApiKey(pool, {
    id,
    name: parsed.data.name,
    keyHash: hashKey(key),
    scopes: [...new Set(parsed.data.scopes)],
  });
  return { ...view(row), key };
}

export async function revokeApiKeyById(pool: Pool, id: string): Promise<ApiKeyView> {
  const parsed = uuid.safeParse(id);
  if (!parsed.success)
    throw validationError(`key id: ${id} is not a key id (a UUID, as txmgr apikey list shows)`, { field: 'id' });
  const row = await revokeApiKey(pool, parsed.data);
  if (!row) throw new DomainError('NotFound', `no API key with id ${parsed.data}`);
  return view(row);
}

export async function listApiKeyViews(pool: Pool): Promise<ApiKeyView[]> {
  return (await listApiKeys(pool)).map(view);
}

/** The key's principal, or undefined for a malformed, unknown, wrong or revoked key (the caller cannot tell which). */
export async function authenticateApiKey(pool: Pool, key: string): Promise<ApiPrincipal | undefined> {
  const m = KEY_FORMAT.exec(key);
  if (!m?.[1]) return undefined;
  const row = await findApiKey(pool, idText(m[1]));
  if (!row || row.revoked_at) return undefined;
  if (!timingSafeEqual(row.key_hash, hashKey(key))) return undefined;
  return { keyId: row.id, name: row.name, scopes: row.scopes as ApiScope[] };
}

/** The key id a presented key claims (for rate limiting before the database is asked), or undefined. */
export const claimedKeyId = (key: string): string | undefined => KEY_FORMAT.exec(key)?.[1];
