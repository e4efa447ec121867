import type { Pool } from 'pg';
import { EMBEDDED_APP_LOGIN } from '../../src/db/app-role';

/**
 * A database the application's role cannot reach: no new connection is let in (the
 * connection limit; the owner, a superuser here, still gets in) and every open one is
 * terminated, again and again, until `end()`. `admin` is the owner's pool.
 */
export function databaseOutage(admin: Pool, databaseName: string): { end(): Promise<void> } {
  let on = true;
  const kill = () =>
    admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2', [
      databaseName,
      EMBEDDED_APP_LOGIN.role,
    ]);
  const started = admin.query(`ALTER DATABASE ${databaseName} CONNECTION LIMIT 0`).then(kill);
  const loop = (async () => {
    await started;
    while (on) {
      await kill();
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async end() {
      on = false;
      await loop;
      await admin.query(`ALTER DATABASE ${databaseName} CONNECTION LIMIT -1`);
    },
  };
}
