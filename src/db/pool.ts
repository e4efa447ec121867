import { Pool, types } from 'pg';

// numeric and int8 stay strings: money never passes through a JS number.
types.setTypeParser(types.builtins.NUMERIC, (v) => v);
types.setTypeParser(types.builtins.INT8, (v) => v);

export interface PoolOptions {
  databaseUrl: string;
  max: number;
  applicationName?: string;
}

export function createPool({ databaseUrl, max, applicationName = 'txmgr' }: PoolOptions): Pool {
  const pool = new Pool({
    connectionString: databaseUrl,
    max,
    application_name: applicationName,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return pool;
}
