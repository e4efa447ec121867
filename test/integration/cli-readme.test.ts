import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runProcess } from './cli-process';

/** The README's CLI block, run verbatim by bash against a fresh `npm run demo -- --keep` and what it prints. */
function readmeCliBlock(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The CLI\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md has no sh block under "## The CLI"');
  return block;
}

/** `node dist/demo.js --keep` on a fresh data directory, until it prints its export line. */
async function startDemo(dataDir: string) {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'error' };
  if (process.env.TEMPORAL_CLI_PATH) env.TEMPORAL_CLI_PATH = process.env.TEMPORAL_CLI_PATH;
  const child = spawn(process.execPath, ['dist/demo.js', '--keep', '--data-dir', dataDir], { cwd: ROOT, env });
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const exportLine = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no export line in time:\n${out}`)), 240_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^\s*export (.+)$/m.exec(out)?.[1];
      if (line) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited ${code} before its export line:\n${out}`));
    });
  });
  const printed = Object.fromEntries(
    exportLine
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split(/=(.*)/s).slice(0, 2)),
  );
  return {
    env: printed as NodeJS.ProcessEnv,
    async stop() {
      child.kill('SIGINT');
      await exited;
    },
  };
}

test("the README's CLI block works verbatim on a fresh npm run demo -- --keep, with the variables it prints", async () => {
  const block = readmeCliBlock();
  expect(block).toContain('--no-wait');
  expect(block).not.toMatch(/<[a-z-]+>/); // no placeholders to fill in
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-readme-'));
  // As root PostgreSQL runs as the `postgres` user, which must reach the data directory.
  fs.chmodSync(base, 0o755);
  const demo = await startDemo(path.join(base, 'data'));
  let run;
  try {
    expect(Object.keys(demo.env).sort()).toEqual([
      'CUSTODY_DATABASE_URL',
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
    ]);
    run = await runProcess('bash', ['-euo', 'pipefail', '-s'], demo.env, block);
  } finally {
    await demo.stop();
    fs.rmSync(base, { recursive: true, force: true });
  }
  if (run.code !== 0) throw new Error(`README block failed with ${run.code}:\n${run.stdout}\n${run.stderr}`);
  expect(run.stdout).toMatch(/deposit BANK-\d+-1 CREDITED: 250\.00 USD to account [0-9a-f-]{36}\n/);
  expect(run.stdout).toMatch(/follow it with: txmgr deposit status BANK-\d+-2/);
  expect(run.stdout).toMatch(/deposit BANK-\d+-2 CREDITED: 25000\.00 USD to account [0-9a-f-]{36} \(approved by olga\)\n/);
  expect(run.stdout).toMatch(/balance +25250\.00 USD/);
  expect(run.stdout).toMatch(/saga +deposit-BANK-\d+-1\n/);
  expect(run.stdout).toMatch(/status +COMPLETED/);
  expect(run.stdout).toMatch(/USD +\d+\.\d{2} USD/); // config show compliance, in human decimals
});
