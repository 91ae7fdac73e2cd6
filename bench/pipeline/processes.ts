import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

// Child node processes of the bench (workers, the echo baseline, the migration), run with tsx and logged to a
// file each. Only processes started here are ever signalled, by their own pid.

export interface Child {
  name: string;
  process: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or the signal) once the process has exited. */
  exited: Promise<string>;
}

/** `cwd` is where `args` and tsx are resolved: the checkout whose worker is measured (BENCH_WORKER_DIR). */
export function spawnNode(name: string, args: string[], env: Record<string, string>, logFile: string, nodeArgs: string[] = [], cwd = process.cwd()): Child {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return logged(name, child, log);
}

function logged(name: string, child: ChildProcess, log: WriteStream): Child {
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? String(code))));
  return { name, process: child, pid: child.pid, exited };
}

/**
 * A worker of the checkout `cwd` started as users start it: its scripts/worker.sh (node flags of the worker, exec'd,
 * so the pid is the worker's), or, for a checkout without one, node with tsx as before.
 */
export function spawnWorker(name: string, env: Record<string, string>, logFile: string, nodeArgs: string[], cwd: string): Child {
  const script = join(cwd, 'scripts', 'worker.sh');
  if (!existsSync(script)) return spawnNode(name, ['src/main.ts'], env, logFile, nodeArgs, cwd);
  const log = createWriteStream(logFile, { flags: 'a' });
  // BENCH_NODE_ARGS go after the script's own flags.
  const child = spawn('bash', [script], { cwd, env: { ...process.env, ...env, WORKER_EXTRA_NODE_FLAGS: nodeArgs.join(' ') }, stdio: ['ignore', 'pipe', 'pipe'] });
  return logged(name, child, log);
}

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** Runs a child to its end; throws with its log file named unless it exits 0. */
export async function runToEnd(name: string, args: string[], env: Record<string, string>, logFile: string, cwd?: string): Promise<void> {
  const child = spawnNode(name, args, env, logFile, [], cwd);
  const code = await child.exited;
  if (code !== '0') throw new Error(`${name} exited with ${code} (log: ${logFile})`);
}

/**
 * Polls `check` until it answers true: for states the bench can observe but not be told about (an HTTP
 * endpoint answering, a consumer group settling). Throws after `timeoutMs`, or at once when `failed` says so.
 */
export async function until(what: string, check: () => Promise<boolean>, timeoutMs = 90_000, failed?: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const failure = failed?.();
    if (failure) throw new Error(`${what}: ${failure}`);
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
