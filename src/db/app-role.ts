import { Client } from 'pg';

/** The group role of migrations/…0600000_app_role.sql: rows, never the schema. */
export const APP_GROUP_ROLE = 'txmgr_app';
/** The login role the embedded stack gives the worker, the CLI and the API. */
export const EMBEDDED_APP_LOGIN = { role: 'txmgr_worker', password: 'txmgr_worker' } as const;

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `url` with another user and password (same server and database). */
export function withLogin(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(role);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/**
 * Makes sure the login role of `appUrl` exists, has the password in that URL and is a member
 * of txmgr_app (created here too when the migrations have not run yet), connected as the
 * owner at `ownerUrl`, which needs CREATEROLE. Refuses a role that is the owner itself or a
 * superuser: the point is that the application cannot change the schema. Idempotent.
 */
export async function ensureAppLogin(ownerUrl: string, appUrl: string): Promise<void> {
  const u = new URL(appUrl);
  const role = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  if (!ROLE_NAME.test(role)) {
    throw new Error(`the application's user "${role}" must be a lower-case SQL name (letters, digits, _)`);
  }
  if (!password) throw new Error(`the application's URL gives no password for ${role}`);
  const client = new Client({ connectionString: ownerUrl, connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ me: string; super: boolean | null }>(
      'SELECT current_user AS me, (SELECT rolsuper FROM pg_roles WHERE rolname = $1) AS super',
      [role],
    );
    if (rows[0]?.me === role || rows[0]?.super === true) {
      throw new Error(`the application's user ${role} is the owner or a superuser; give it a role of its own`);
    }
    const name = client.escapeIdentifier(role);
    const secret = client.escapeLiteral(password);
    // Roles are cluster-wide: two databases set up at once may race to create them.
    const tolerant = (sql: string) => `DO $$ BEGIN ${sql} EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`;
    await client.query(
      tolerant(
        `IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_GROUP_ROLE}') THEN CREATE ROLE ${APP_GROUP_ROLE} NOLOGIN; END IF;`,
      ),
    );
    await client.query(
      tolerant(
        `IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${client.escapeLiteral(role)}) THEN CREATE ROLE ${name} LOGIN; END IF;`,
      ),
    );
    await client.query(`ALTER ROLE ${name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${secret}`);
    await client.query(`GRANT ${APP_GROUP_ROLE} TO ${name}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
