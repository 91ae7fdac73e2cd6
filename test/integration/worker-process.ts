import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const exitWithParent = new URL('./exit-with-parent.ts', import.meta.url).href;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The worker as users run it (`npm run worker` = tsx src/main.ts), as a child process that ends with its parent. */
export class WorkerProcess {
  child: ChildProcess | undefined;
  output = '';
  constructor(private readonly env: Record<string, string>) {}

  get port(): number {
    return Number(this.env.HTTP_PORT);
  }

  async start(timeoutMs = 60_000): Promise<void> {
    this.child = spawn(process.execPath, ['--import', 'tsx', '--import', exitWithParent, 'src/main.ts'], {
      cwd: root,
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d) => (this.output += d));
    this.child.stderr!.on('data', (d) => (this.output += d));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`worker exited with ${this.child.exitCode}:\n${this.output}`);
      const ready = await fetch(`http://127.0.0.1:${this.port}/readyz`).then((r) => r.ok, () => false);
      if (ready) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`worker not ready within ${timeoutMs} ms:\n${this.output}`);
  }

  /** Sends a signal and resolves with the exit code (or signal name) once the process is gone. */
  async kill(signal: NodeJS.Signals): Promise<number | string> {
    const child = this.child!;
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode!;
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
    child.kill(signal);
    return exited;
  }
}
