import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// expctl as operators run it: a child process (Node + tsx loader, the CLI's TypeScript source), for the CLI and
// the hostile-input tests.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `expctl args…` with exactly `env` (plus PATH/HOME), resolving with its exit code and output. */
export function expctl(args: string[], env: Record<string, string> = {}, options: { launcher?: boolean; timeoutMs?: number } = {}): Promise<Run> {
  const entry = options.launcher ? [join(root, 'bin/expctl.js')] : ['--import', tsxLoader, join(root, 'src/cli/expctl.ts')];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: root,
      env: {
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '/tmp',
        EXPCTL_FROM_SOURCE: '1',
        // The client package from its source, as scripts/tsx.sh runs it.
        NODE_OPTIONS: '--conditions=experimentation-worker-source',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`expctl ${args.join(' ')} did not finish in time\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
