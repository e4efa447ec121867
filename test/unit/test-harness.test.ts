import { spawn } from 'node:child_process';
import path from 'node:path';
import { eventually } from '../helpers/context';

/** The test tooling itself: quiet passing tests, logs of failing ones, the totals line CI reads. */
const ROOT = path.resolve(__dirname, '..', '..');

function jest(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the project's jest config is CommonJS
  const base = require(path.join(ROOT, 'jest.config.js')) as Record<string, unknown>;
  const merged = { ...base, globalSetup: undefined, globalTeardown: undefined, ...config };
  return new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--config', JSON.stringify(merged), '--ci'],
      { cwd: ROOT, env: { PATH: process.env.PATH, ...env } },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('test tooling', () => {
  test('a passing test prints nothing of its log, a failing one prints its log, totals count skipped', async () => {
    const run = await jest({ testMatch: ['<rootDir>/test/helpers/harness/quiet.fixture.ts'] });
    expect(run.code).toBe(1);
    expect(run.output).toContain('line of the failing test');
    expect(run.output).not.toContain('line of the passing test');
    expect(run.output).toMatch(/── log of failed test "a failing test logs" \(1 lines\) ──/);
    expect(run.output.trimEnd().split('\n').at(-1)).toBe('1 passed, 1 failed, 1 skipped');
  });

  test('a global setup that fails prints a sentence and a totals line', async () => {
    const run = await jest(
      { testMatch: ['<rootDir>/test/helpers/harness/quiet.fixture.ts'], globalSetup: '<rootDir>/test/helpers/global-setup.ts' },
      { DATABASE_URL: 'mysql://nowhere' },
    );
    expect(run.code).toBe(1);
    expect(run.output).toMatch(
      /txmgr tests: the test stack did not start: invalid environment:\n {2}DATABASE_URL: DATABASE_URL must start with postgres:\/\//,
    );
    expect(run.output).not.toMatch(/undefined|\[object Object\]|^\s+at .+:\d+:\d+\)?$/m);
    expect(run.output.trimEnd().split('\n').at(-1)).toBe('0 passed, 1 failed');
  });

  test('eventually rethrows the last error when time runs out', async () => {
    let attempt = 0;
    await expect(
      eventually(async () => {
        attempt += 1;
        throw new Error(`not yet, attempt ${attempt}`);
      }, 300),
    ).rejects.toThrow(/^not yet, attempt \d+$/);
    expect(attempt).toBeGreaterThan(1);
    await expect(eventually(async () => false, 200)).rejects.toThrow('condition not reached in 200 ms');
  });
});
