import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { loadWorkerConfig, WORKER_ENV_VARS } from '../../src/config';
import { SEARCH_ATTRIBUTE_NAMES, SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes';
import { MIGRATE_COMMAND, MIGRATE_ENV, WORKER_COMMAND, WORKER_ENV } from '../cluster/steps';

// docker-compose.yml and the Dockerfile cannot be run here (no Docker engine), so
// this checks what would otherwise only fail on a user's first `docker compose up`.

const ROOT = path.resolve(__dirname, '..', '..');
const composeText = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const dockerfileText = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  volumes?: (string | { type?: string; source?: string })[];
  stop_grace_period?: string;
  healthcheck?: { test?: string | string[] };
  restart?: string;
  deploy?: { replicas?: number };
}

// `merge: true` resolves the `<<: *txmgr-image` keys the way Compose does.
const compose = parse(composeText, { merge: true }) as { services: Record<string, Service> };
const services = compose.services;

function service(name: string): Service {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service "${name}"`);
  return s;
}

/** `environment` as a map, whichever of the two Compose spellings is used. */
function env(s: Service): Record<string, string> {
  const raw = s.environment ?? {};
  if (Array.isArray(raw)) {
    return Object.fromEntries(
      raw.map((line) => {
        const i = line.indexOf('=');
        return i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v == null ? '' : String(v as string | number | boolean)]));
}

function dependsOn(s: Service): Record<string, string> {
  const raw = s.depends_on ?? {};
  if (Array.isArray(raw)) return Object.fromEntries(raw.map((name) => [name, 'service_started']));
  return Object.fromEntries(Object.entries(raw).map(([name, d]) => [name, d.condition ?? 'service_started']));
}

function argv(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : value.split(/\s+/).filter(Boolean);
}

/** Compose durations: "45s", "1m30s", "1500ms". */
function durationMs(value: string): number {
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`bad duration "${value}"`);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, ns: 1e-6 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] as string] as number), 0);
}

/** Tag of an image reference, ignoring a registry port ("host:5000/name:tag"). */
function imageTag(ref: string): string | undefined {
  const withoutDigest = ref.split('@')[0] as string;
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const i = lastSegment.lastIndexOf(':');
  return i < 0 ? undefined : lastSegment.slice(i + 1);
}

const CLUSTER_SERVICES = [
  'postgresql',
  'temporal',
  'temporal-admin-tools',
  'temporal-ui',
  'app-db',
  'migrate',
  'worker',
] as const;

describe('docker-compose.yml', () => {
  test('defines every service of the cluster', () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining([...CLUSTER_SERVICES]));
  });

  test('pins every image to a tag other than latest', () => {
    for (const [name, s] of Object.entries(services)) {
      expect({ name, image: s.image }).toEqual({ name, image: expect.any(String) });
      const tag = imageTag(s.image as string);
      expect({ name, tag }).toEqual({ name, tag: expect.stringMatching(/^[\w][\w.-]*$/) });
      expect({ name, tag }).not.toEqual({ name, tag: 'latest' });
    }
  });

  test('depends_on names existing services, with conditions they can meet, and no cycle', () => {
    const conditions = ['service_started', 'service_healthy', 'service_completed_successfully'];
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        expect(conditions).toContain(condition);
        const target = services[dep] as Service;
        if (condition === 'service_healthy') {
          // Healthy needs a healthcheck, from compose or from the image; ours are all in compose.
          expect({ dep, healthcheck: 'healthcheck' in target }).toEqual({ dep, healthcheck: true });
        }
        if (condition === 'service_completed_successfully') {
          // A restarting service never "completes", and its dependants would never start.
          expect({ dep, restart: target.restart ?? 'no' }).toEqual({ dep, restart: 'no' });
        }
      }
    }
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, trail: string[]): void => {
      if (done.has(name)) return;
      if (visiting.has(name)) throw new Error(`depends_on cycle: ${[...trail, name].join(' -> ')}`);
      visiting.add(name);
      for (const dep of Object.keys(dependsOn(services[name] as Service))) visit(dep, [...trail, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name, []);
  });

  test('bind-mounted files exist in the repository', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of s.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0] : v.source;
        if (!source || !source.startsWith('.')) continue; // named volume
        expect({ name, source, exists: existsSync(path.join(ROOT, source)) }).toEqual({ name, source, exists: true });
      }
    }
  });

  test('Temporal persists to the postgresql service', () => {
    const e = env(service('temporal'));
    expect(e.POSTGRES_SEEDS).toBe(env(service('temporal-admin-tools')).SQL_HOST);
    expect(e.DB).toBe('postgres12');
    expect(e.POSTGRES_SEEDS).toBe('postgresql');
    expect(e.POSTGRES_USER).toBe(env(service('postgresql')).POSTGRES_USER);
    expect(e.POSTGRES_PWD).toBe(env(service('postgresql')).POSTGRES_PASSWORD);
  });

  test('runs temporalio/server, not the deprecated auto-setup image', () => {
    expect(service('temporal').image).toMatch(/^temporalio\/server:/);
    for (const s of Object.values(services)) expect(s.image).not.toMatch(/auto-setup/);
  });

  describe('temporal-admin-tools, the one-shot Temporal setup', () => {
    const admin = service('temporal-admin-tools');
    const e = env(admin);
    const script = (name: string) => {
      const mount = (admin.volumes ?? [])
        .map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '']))
        .find(([source]) => source !== undefined && source.endsWith(`/${name}`));
      expect({ name, mounted: mount !== undefined }).toEqual({ name, mounted: true });
      return readFileSync(path.join(ROOT, (mount as string[])[0] as string), 'utf8');
    };

    test('runs on the admin-tools image of the server version', () => {
      expect(admin.image).toMatch(/^temporalio\/admin-tools:/);
      expect(imageTag(admin.image as string)?.split('-')[0]).toBe(imageTag(service('temporal').image as string));
    });

    test("creates Temporal's schema in the postgresql service, both databases, with temporal-sql-tool", () => {
      expect(dependsOn(admin)).toMatchObject({ postgresql: 'service_healthy' });
      expect(e).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgresql', SQL_PORT: '5432' });
      expect(e.SQL_USER).toBe(env(service('postgresql')).POSTGRES_USER);
      expect(e.SQL_PASSWORD).toBe(env(service('postgresql')).POSTGRES_PASSWORD);
      const setup = script('setup-cluster.sh');
      expect(argv(admin.entrypoint).join(' ')).toContain('setup-cluster.sh');
      for (const step of ['create', 'setup-schema -v 0.0', 'update-schema -d'])
        expect(setup).toContain(`temporal-sql-tool --db "$db" ${step}`);
      expect(setup).toContain('for db in temporal temporal_visibility');
      expect(setup).toContain('/schema/postgresql/v12');
      expect(setup).toContain('temporal/versioned');
      expect(setup).toContain('visibility/versioned');
    });

    test('lets the server start once the schema exists, then creates the namespace', () => {
      // Healthy = the file the script writes after the schema steps.
      const marker = argv(admin.healthcheck?.test)
        .join(' ')
        .match(/test -f (\S+)/)?.[1];
      expect(marker).toBeDefined();
      const setup = script('setup-cluster.sh');
      expect(setup).toContain(`\${SCHEMA_READY_FILE:-${marker as string}}`);
      expect(setup.indexOf('touch "$ready_file"')).toBeGreaterThan(setup.lastIndexOf('update-schema'));
      expect(dependsOn(service('temporal'))).toEqual({ 'temporal-admin-tools': 'service_healthy' });
      expect(setup).toContain('temporal operator namespace create');
      expect(admin.restart ?? 'no').toBe('no');
    });
  });

  test('the Web UI talks to the temporal service', () => {
    expect(env(service('temporal-ui')).TEMPORAL_ADDRESS).toBe('temporal:7233');
  });

  describe('worker', () => {
    const worker = service('worker');
    const workerEnv = env(worker);

    test('sets the variables the cluster-path test gives its workers, and only ones the worker reads', () => {
      expect(Object.keys(workerEnv)).toEqual(expect.arrayContaining([...WORKER_ENV]));
      const unknown = Object.keys(workerEnv).filter((k) => !(WORKER_ENV_VARS as readonly string[]).includes(k));
      expect(unknown).toEqual([]);
    });

    test('sets the variables the worker requires, and they parse', () => {
      expect(workerEnv.TEMPORAL_ADDRESS).toBeTruthy();
      expect(workerEnv.DATABASE_URL).toBeTruthy();
      // The worker's own start-up validation, on exactly what compose passes it.
      expect(() => loadWorkerConfig(workerEnv)).not.toThrow();
    });

    test('reaches the temporal service', () => {
      const [host, port] = (workerEnv.TEMPORAL_ADDRESS as string).split(':');
      expect(host).toBe('temporal');
      expect(port).toBe('7233');
    });

    test('uses the app-db service as the role migrate makes for it, while migrate runs as the owner', () => {
      const db = env(service('app-db'));
      const owner = new URL(env(service('migrate')).DATABASE_URL as string);
      const app = new URL(workerEnv.DATABASE_URL as string);
      for (const url of [owner, app]) {
        expect(url.hostname).toBe('app-db');
        expect(url.port || '5432').toBe('5432');
        expect(url.pathname.slice(1)).toBe(db.POSTGRES_DB);
      }
      expect(decodeURIComponent(owner.username)).toBe(db.POSTGRES_USER);
      expect(decodeURIComponent(owner.password)).toBe(db.POSTGRES_PASSWORD);
      // Least privilege: the worker is not the owner; migrate creates its login role in txmgr_app.
      expect(decodeURIComponent(app.username)).not.toBe(db.POSTGRES_USER);
      expect(app.password).not.toBe('');
      expect(env(service('migrate')).APP_DATABASE_URL).toBe(workerEnv.DATABASE_URL);
    });

    test('runs what `npm run worker` runs (the image default)', () => {
      expect(argv(worker.command)).toEqual([]);
      expect(WORKER_COMMAND).toEqual(['npm', 'run', 'worker']);
      expect(scripts.worker).toBe('node dist/worker.js');
    });

    test('starts after Temporal is set up, the schema is migrated and the search attributes exist', () => {
      expect(dependsOn(worker)).toMatchObject({
        temporal: 'service_started',
        migrate: 'service_completed_successfully',
        'temporal-admin-tools': 'service_completed_successfully',
      });
    });

    test('gets more time to stop than it takes to drain', () => {
      const graceMs = loadWorkerConfig(workerEnv).shutdownGraceMs;
      expect(worker.stop_grace_period).toEqual(expect.any(String));
      // 5 s beyond the drain, for the process to close connections and exit before SIGKILL.
      expect(durationMs(worker.stop_grace_period as string)).toBeGreaterThanOrEqual(graceMs + 5000);
    });

    test('scales out, within the connections app-db allows', () => {
      const replicas = worker.deploy?.replicas ?? 1;
      expect(replicas).toBeGreaterThanOrEqual(2);
      const arg = argv(service('app-db').command).find((a) => a.startsWith('max_connections='));
      const maxConnections = arg ? Number(arg.split('=')[1]) : 100; // PostgreSQL's default
      // Headroom for migrate, psql and superuser_reserved_connections (3).
      expect(replicas * loadWorkerConfig(workerEnv).poolMax + 10).toBeLessThanOrEqual(maxConnections);
    });
  });

  test('migrate runs `npm run migrate` from the worker image, once, as the cluster-path test does', () => {
    const migrate = service('migrate');
    expect(migrate.image).toBe(service('worker').image);
    expect(argv(migrate.command)).toEqual([...MIGRATE_COMMAND]);
    expect(scripts.migrate).toBe('node dist/db/migrate-cli.js');
    expect(Object.keys(env(migrate))).toEqual(expect.arrayContaining([...MIGRATE_ENV]));
    expect(dependsOn(migrate)).toEqual({ 'app-db': 'service_healthy' });
    expect(migrate.restart ?? 'no').toBe('no');
  });

  describe('search attributes', () => {
    const admin = service('temporal-admin-tools');
    // One Name=Type argument per attribute, passed to register-search-attributes.sh.
    const registered = argv(admin.command)
      .map((a) => /^(\w+)=(\w+)$/.exec(a))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[1] as string, type: m[2] as string }));

    test('registers exactly the attributes the code uses', () => {
      expect(registered.map((a) => a.name).sort()).toEqual([...SEARCH_ATTRIBUTE_NAMES].sort());
    });

    test('registers each with the type the code declares', () => {
      // SDK SearchAttributeType ("KEYWORD_LIST") -> CLI --type ("KeywordList").
      const cliType = (t: string) => t.toLowerCase().replace(/(^|_)(\w)/g, (_m, _u, c: string) => c.toUpperCase());
      const declared = Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, cliType(k.type)]));
      for (const { name, type } of registered) expect({ name, type }).toEqual({ name, type: declared[name] });
    });

    test('into the namespace the worker polls, on the temporal service', () => {
      const e = env(admin);
      expect(e.TEMPORAL_NAMESPACE).toBe(env(service('worker')).TEMPORAL_NAMESPACE);
      expect(e.TEMPORAL_ADDRESS).toBe('temporal:7233');
    });

    test('with a script that creates them through the Temporal CLI, after the namespace', () => {
      const mounted = (admin.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':') : [v.source ?? '']));
      const source = (file: string) => mounted.find(([s]) => s?.endsWith(file))?.[0];
      const setup = readFileSync(path.join(ROOT, source('setup-cluster.sh') as string), 'utf8');
      const register = readFileSync(path.join(ROOT, source('register-search-attributes.sh') as string), 'utf8');
      expect(setup).toMatch(/exec \/bin\/sh .*register-search-attributes\.sh" "\$@"/);
      expect(register).toContain('temporal operator search-attribute create');
    });
  });
});

describe('Dockerfile', () => {
  // Instructions of the final stage, continuation lines joined, comments dropped.
  const instructions = dockerfileText
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = instructions.filter((l) => /^FROM\s/i.test(l));
  const finalStage = instructions.slice(instructions.lastIndexOf(froms[froms.length - 1] as string));
  const last = (keyword: string) => [...finalStage].reverse().find((l) => new RegExp(`^${keyword}\\s`, 'i').test(l));

  test('builds on pinned node:20-bookworm-slim in every stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM\s+node:20-bookworm-slim(\s|$)/i);
  });

  test('runs node dist/worker.js by default', () => {
    const cmd = last('CMD');
    expect(cmd).toBeDefined();
    const body = (cmd as string).replace(/^CMD\s+/i, '');
    const args = body.startsWith('[') ? (JSON.parse(body) as string[]) : body.split(/\s+/);
    expect(args).toEqual(['node', 'dist/worker.js']);
    expect(last('ENTRYPOINT')).toBeUndefined();
  });

  test('does not run as root', () => {
    const user = last('USER');
    expect(user).toBeDefined();
    const name = (user as string).replace(/^USER\s+/i, '').split(':')[0];
    expect(['root', '0']).not.toContain(name);
  });

  test('ships the compiled code and the migrations the migrate service applies', () => {
    expect(finalStage.some((l) => /^COPY\s.*\bdist\b/i.test(l))).toBe(true);
    expect(finalStage.some((l) => /^COPY\s.*\bmigrations\b/i.test(l))).toBe(true);
  });
});
