import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTemporalCli } from '../../src/infra/temporal-cli';

describe('finding the Temporal CLI', () => {
  const saved = { path: process.env.PATH, cli: process.env.TEMPORAL_CLI_PATH };
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'txmgr-cli-'));
  });
  afterEach(() => {
    process.env.PATH = saved.path;
    if (saved.cli === undefined) delete process.env.TEMPORAL_CLI_PATH;
    else process.env.TEMPORAL_CLI_PATH = saved.cli;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const fakeBinary = (file: string) => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o755 });
    return file;
  };

  test('TEMPORAL_CLI_PATH comes first', () => {
    process.env.TEMPORAL_CLI_PATH = fakeBinary(path.join(dir, 'custom', 'temporal'));
    process.env.PATH = path.dirname(fakeBinary(path.join(dir, 'bin', 'temporal')));
    expect(findTemporalCli({ projectRoot: dir, install: false })).toEqual({
      path: process.env.TEMPORAL_CLI_PATH,
      source: 'TEMPORAL_CLI_PATH',
    });
  });

  test('a TEMPORAL_CLI_PATH that is not an executable is an error, not a silent fallback', () => {
    process.env.TEMPORAL_CLI_PATH = path.join(dir, 'missing');
    expect(() => findTemporalCli({ projectRoot: dir, install: false })).toThrow(/not an executable/);
  });

  test('then `temporal` on PATH, then the project-local copy, then the SDK download', () => {
    delete process.env.TEMPORAL_CLI_PATH;
    process.env.PATH = path.join(dir, 'empty');
    expect(findTemporalCli({ projectRoot: dir, install: false })).toEqual({ source: 'sdk-download' });

    const local = fakeBinary(path.join(dir, '.tools', 'temporal-venv', 'bin', 'temporal'));
    expect(findTemporalCli({ projectRoot: dir, install: false })).toEqual({ path: local, source: 'project-local' });

    const onPath = fakeBinary(path.join(dir, 'bin', 'temporal'));
    process.env.PATH = path.dirname(onPath);
    expect(findTemporalCli({ projectRoot: dir, install: false })).toEqual({ path: onPath, source: 'PATH' });
  });
});
