import fs from 'node:fs';
import path from 'node:path';
import { applyConfigList, exampleConfigTransactions } from '../../src/client/config';
import { useTestContext } from '../helpers/context';
import { ROOT, runProcess, stackEnv, startWorkerProcess } from './cli-process';

/** The README's CLI block, run verbatim by bash with the variables the demo prints and a worker process. */
const ctx = useTestContext();

function readmeCliBlock(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## The CLI\n'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md has no sh block under "## The CLI"');
  return block;
}

test("the README's CLI block works verbatim: deposits, a review approved, balance and saga", async () => {
  const block = readmeCliBlock();
  expect(block).toContain('--no-wait');
  expect(block).not.toMatch(/<[a-z-]+>/); // no placeholders to fill in
  const tq = ctx.taskQueue();
  // What the demo did before printing its export line: the example config is applied.
  await ctx.withWorker(tq, () =>
    applyConfigList(
      { client: ctx.temporal, taskQueue: tq, workflowId: `config-siphon-readme-${tq}` },
      exampleConfigTransactions(),
    ),
  );
  const worker = await startWorkerProcess(stackEnv(ctx.databaseUrl, tq));
  let run;
  try {
    run = await runProcess('bash', ['-euo', 'pipefail', '-s'], stackEnv(ctx.databaseUrl, tq), block);
  } finally {
    await worker.stop();
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
