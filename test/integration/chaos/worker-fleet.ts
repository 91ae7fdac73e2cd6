import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { WorkerProcess, freePort } from '../worker-process.js';

/** A worker process of the fleet, with the name it has in progress output and logs. */
export interface FleetMember {
  name: string;
  process: WorkerProcess;
  pid: number;
  /** Resolves once the worker's /readyz answers 200 (then `isReady` is true). */
  ready: Promise<void>;
  isReady: boolean;
}

const MAX_REPLACED_EXITS = 10;

/** A member that exited without the fleet killing or stopping it (a crash, or a signal from outside). */
export interface UnexpectedExit {
  name: string;
  pid: number;
  code: number | null;
  signal: string | null;
  at: number;
}

/**
 * Worker processes (`npm run worker`'s entry point, one consumer group) that can be SIGKILLed and replaced.
 * Each member gets its own HTTP port; with `logDir`, each member's output also goes to `<logDir>/<name>.log`.
 * A member that exits on its own is recorded and, like an orchestrator would, replaced.
 */
export class WorkerFleet {
  private readonly live = new Map<number, FleetMember>();
  private readonly logs: WriteStream[] = [];
  private readonly spawned: FleetMember[] = [];
  private readonly exitsWeCaused = new Set<number>();
  private stopping = false;
  readonly unexpectedExits: UnexpectedExit[] = [];
  started = 0;
  killed = 0;

  constructor(
    private readonly env: Record<string, string>,
    private readonly options: { logDir?: string; onUnexpectedExit?: (exit: UnexpectedExit) => void } = {},
  ) {
    if (options.logDir) mkdirSync(options.logDir, { recursive: true });
  }

  get members(): FleetMember[] {
    return [...this.live.values()];
  }

  byPid(pid: number): FleetMember | undefined {
    return this.live.get(pid);
  }

  async start(count: number): Promise<FleetMember[]> {
    return Promise.all(Array.from({ length: count }, () => this.startOne()));
  }

  /** Starts one more worker and resolves once its /readyz answers 200. */
  async startOne(): Promise<FleetMember> {
    const member = await this.spawnOne();
    await member.ready;
    return member;
  }

  /**
   * Starts one more worker and resolves as soon as it is spawned (it is a member from then on: it may take
   * partitions or the relay lock before /readyz answers); `member.ready` resolves once /readyz answers 200.
   */
  async spawnOne(): Promise<FleetMember> {
    const name = `worker-${++this.started}`;
    const worker = new WorkerProcess({ ...this.env, HTTP_PORT: String(await freePort()) });
    const started = worker.start(90_000);
    const child = worker.child!;
    const log = this.options.logDir ? createWriteStream(join(this.options.logDir, `${name}.log`)) : undefined;
    if (log) this.logs.push(log);
    const keep = (chunk: Buffer) => {
      log?.write(chunk);
      // The log file has everything; in memory only the tail, for error messages.
      if (worker.output.length > 1_000_000) worker.output = worker.output.slice(-200_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const ready = started.catch(async (error: unknown) => {
      this.exitsWeCaused.add(child.pid!);
      await worker.kill('SIGKILL');
      throw error;
    });
    ready.catch(() => {});
    const member: FleetMember = { name, process: worker, pid: child.pid!, ready, isReady: false };
    ready.then(() => (member.isReady = true), () => {});
    this.live.set(member.pid, member);
    this.spawned.push(member);
    child.once('exit', (code, signal) => {
      this.live.delete(member.pid);
      if (this.stopping || this.exitsWeCaused.has(member.pid)) return;
      const exit = { name, pid: member.pid, code, signal, at: Date.now() };
      this.unexpectedExits.push(exit);
      this.options.onUnexpectedExit?.(exit);
      // Replace it, within reason: a worker that cannot start at all should not be respawned for ever.
      if (this.unexpectedExits.length <= MAX_REPLACED_EXITS) this.spawnOne().catch(() => {});
    });
    return member;
  }

  /** Resolves once every worker spawned so far and still running is ready; throws if one never got ready. */
  async allReady(): Promise<void> {
    await Promise.all(this.spawned.filter((m) => this.live.has(m.pid)).map((m) => m.ready));
  }

  /** SIGKILL: no shutdown hooks, no goodbye to the group or the database. Resolves once the process is gone. */
  async kill(member: FleetMember): Promise<void> {
    this.exitsWeCaused.add(member.pid);
    await member.process.kill('SIGKILL');
    this.live.delete(member.pid);
    this.killed++;
  }

  /** SIGTERM (graceful), SIGKILL for any that have not exited within `boundMs`. */
  async stopAll(boundMs = 20_000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.members.map(async (member) => {
        const exited = member.process.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), boundMs)));
        if ((await Promise.race([exited, late])) === 'late') await member.process.kill('SIGKILL');
        clearTimeout(timer);
        this.live.delete(member.pid);
      }),
    );
    await Promise.all(this.logs.map((log) => new Promise((resolve) => log.end(resolve))));
  }

  /** The last lines every live member printed: for a failure message. */
  tails(lines = 20): string {
    return this.members.map((m) => `--- ${m.name} (pid ${m.pid})\n${m.process.output.split('\n').slice(-lines).join('\n')}`).join('\n');
  }
}
