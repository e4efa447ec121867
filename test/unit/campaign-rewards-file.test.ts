import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readRewardsFile } from '../../src/client/cli/campaign';

const write = (name: string, text: string) => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rewards-')), name);
  fs.writeFileSync(file, text);
  return file;
};
const A = '0b7e2d4c-1f1e-4a55-9a3e-0f4c2b7d9e11';
const B = '5d3c1a2b-7e6f-4b8a-9c0d-1e2f3a4b5c6d';

describe('txmgr campaign pay reads a rewards file', () => {
  test('a JSON list of { accountId, amount }', () => {
    expect(readRewardsFile(write('r.json', JSON.stringify([{ accountId: A, amount: '5.00' }, { accountId: B }])))).toEqual([
      { accountId: A, amount: '5.00' },
      { accountId: B },
    ]);
  });

  test('CSV lines with an optional header and an optional amount', () => {
    expect(readRewardsFile(write('r.csv', `accountId,amount\n${A}, 2.50\n\n${B}\n`))).toEqual([
      { accountId: A, amount: '2.50' },
      { accountId: B },
    ]);
  });

  test('broken JSON and a missing file are refused as bad input naming the file', () => {
    const broken = write('bad.json', '[{"accountId": ');
    expect(() => readRewardsFile(broken)).toThrow(new RegExp(`${broken} is not valid JSON`));
    expect(() => readRewardsFile('/nonexistent/rewards.csv')).toThrow(/cannot read \/nonexistent\/rewards.csv/);
  });
});
