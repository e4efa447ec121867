import type { Pool } from 'pg';

export interface ApiKeyRow {
  id: string;
  name: string;
  key_hash: Buffer;
  scopes: string[];
  created_at: Date;
  revoked_at: Date | null;
}

export async function insertApiKey(
  pool: Pool,
  k: { id: string; name: string; keyHash: Buffer; scopes: string[] },
): Promise<ApiKeyRow> {
  const { rows } = await pool.query<ApiKeyRow>(
    'INSERT INTO api_keys (id, name, key_hash, scopes) VALUES ($1, $2, $3, $4) RETURNING *',
    [k.id, k.name, k.keyHash, k.scopes],
  );
  return rows[0] as ApiKeyRow;
}

export async function findApiKey(pool: Pool, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await pool.query<ApiKeyRow>('SELECT * FROM api_keys WHERE id = $1', [id]);
  return rows[0];
}

/** Revokes the key; the row as it is afterwards (already revoked ones keep their first time). */
export async function revokeApiKey(pool: Pool, id: string): Promise<ApiKeyRow | undefined> {
  const { rows } = await pool.query<ApiKeyRow>(
    'UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
    [id],
  );
  return rows[0];
}

export async function listApiKeys(pool: Pool): Promise<ApiKeyRow[]> {
  const { rows } = await pool.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id');
  return rows;
}
