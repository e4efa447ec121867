import type { Pool, PoolClient } from 'pg';

export interface AssetRow {
  code: string;
  scale: number;
  description: string;
}

export async function findAssetScale(db: Pool | PoolClient, code: string): Promise<number | undefined> {
  const { rows } = await db.query<{ scale: number }>('SELECT scale FROM assets WHERE code = $1', [code]);
  return rows[0]?.scale;
}

export async function listAssets(db: Pool | PoolClient): Promise<AssetRow[]> {
  const { rows } = await db.query<AssetRow>('SELECT code, scale, description FROM assets ORDER BY code');
  return rows;
}
