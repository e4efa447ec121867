import type { Pool } from 'pg';

/** Idempotency records and the audit trail of the HTTP API. */

export interface IdempotencyRow {
  request_method: string;
  request_path: string;
  request_hash: Buffer;
  status_code: number | null;
  response_body: string | null;
  age_seconds: number;
}

/** Claims the key for this request; undefined when it was claimed already (then read it with findIdempotency). */
export async function claimIdempotencyKey(
  pool: Pool,
  k: { apiKeyId: string; key: string; method: string; path: string; hash: Buffer },
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO api_idempotency (api_key_id, idempotency_key, request_method, request_path, request_hash)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [k.apiKeyId, k.key, k.method, k.path, k.hash],
  );
  return rowCount === 1;
}

export async function findIdempotency(pool: Pool, apiKeyId: string, key: string): Promise<IdempotencyRow | undefined> {
  const { rows } = await pool.query<IdempotencyRow>(
    `SELECT request_method, request_path, request_hash, status_code, response_body,
            extract(epoch FROM now() - created_at)::float8 AS age_seconds
       FROM api_idempotency WHERE api_key_id = $1 AND idempotency_key = $2`,
    [apiKeyId, key],
  );
  return rows[0];
}

export async function completeIdempotency(
  pool: Pool,
  apiKeyId: string,
  key: string,
  statusCode: number,
  body: string,
): Promise<void> {
  await pool.query(
    `UPDATE api_idempotency SET status_code = $3, response_body = $4, completed_at = now()
      WHERE api_key_id = $1 AND idempotency_key = $2 AND status_code IS NULL`,
    [apiKeyId, key, statusCode, body],
  );
}

/** Frees a claim whose request did not succeed, so the same key may be tried again. */
export async function releaseIdempotency(pool: Pool, apiKeyId: string, key: string): Promise<void> {
  await pool.query('DELETE FROM api_idempotency WHERE api_key_id = $1 AND idempotency_key = $2 AND status_code IS NULL', [
    apiKeyId,
    key,
  ]);
}

export interface AuditEntry {
  apiKeyId: string | null;
  method: string;
  route: string;
  target: string | null;
  statusCode: number;
  outcome: string;
  requestId: string;
}

export async function insertAudit(pool: Pool, a: AuditEntry): Promise<void> {
  await pool.query(
    `INSERT INTO api_audit (api_key_id, method, route, target, status_code, outcome, request_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [a.apiKeyId, a.method, a.route, a.target, a.statusCode, a.outcome, a.requestId],
  );
}
