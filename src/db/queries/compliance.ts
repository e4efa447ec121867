import type { Pool, PoolClient } from 'pg';

export interface ComplianceSettingsRow {
  asset: string;
  review_threshold: string;
  review_timeout_seconds: number;
}

export async function findComplianceSettings(db: Pool | PoolClient, asset: string): Promise<ComplianceSettingsRow | undefined> {
  const { rows } = await db.query<ComplianceSettingsRow>('SELECT * FROM compliance_settings WHERE asset = $1', [asset]);
  return rows[0];
}

/** Names are compared normalised: lower case, inner white space folded to one space. */
export const normaliseName = (name: string): string => name.trim().replace(/\s+/g, ' ').toLowerCase();

export async function findDeniedName(db: Pool | PoolClient, name: string): Promise<{ name: string; reason: string } | undefined> {
  const { rows } = await db.query<{ name: string; reason: string }>(
    'SELECT name, reason FROM compliance_deny_list WHERE name = $1',
    [normaliseName(name)],
  );
  return rows[0];
}
