import { spawn } from 'node:child_process';
import { useTestContext } from '../helpers/context';
import { freePort } from '../../src/infra/free-port';
import { ROOT, stackEnv, txmgr } from './cli-process';

const ctx = useTestContext();

describe('txmgr apikey and txmgr serve', () => {
  test('txmgr apikey create, list and revoke', async () => {
    const env = stackEnv(ctx.databaseUrl, 'tq-unused');
    const created = await txmgr(['--json', 'apikey', 'create', '--name', 'ci', '--scopes', 'read,execute'], env);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string; scopes: string[] };
    expect(key.key).toMatch(/^txk_[0-9a-f]{32}_/);
    expect(key.scopes).toEqual(['read', 'execute']);
    const list = await txmgr(['apikey', 'list'], env);
    expect(list.stdout).toContain(key.id);
    expect(list.stdout).not.toContain(key.key);
    expect((await txmgr(['apikey', 'revoke', key.id], env)).stdout).toContain('revoked');
    const { rows } = await ctx.pool.query('SELECT revoked_at FROM api_keys WHERE id = $1', [key.id]);
    expect(rows[0].revoked_at).toBeInstanceOf(Date);
    const badScope = await txmgr(['apikey', 'create', '--name', 'x', '--scopes', 'root'], env);
    expect(badScope.code).toBe(2);
  });

  test('txmgr serve answers with a key from txmgr apikey create until Ctrl-C', async () => {
    const env = stackEnv(ctx.databaseUrl, ctx.taskQueue());
    const key = (
      JSON.parse((await txmgr(['--json', 'apikey', 'create', '--name', 'serve', '--scopes', 'read'], env)).stdout) as {
        key: string;
      }
    ).key;
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/client/cli.js', 'serve', '--port', String(port)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('txmgr API on')) {
        if (Date.now() > deadline) throw new Error(`txmgr serve did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const base = `http://127.0.0.1:${port}`;
      const metrics = await fetch(`${base}/api/v1/transactions/metrics`, { headers: { authorization: `Bearer ${key}` } });
      expect(metrics.status).toBe(200);
      expect((await fetch(`${base}/api/v1/transactions/metrics`)).status).toBe(401);
      expect(((await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string }).openapi).toBe('3.1.0');
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });
});
