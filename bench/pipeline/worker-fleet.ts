import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { groupAssignment } from './kafka-io.js';
import { spawnWorker, stopChild, until, type Child } from './processes.js';
import { peakRssBytes, processCpuSeconds } from './proc-stats.js';

// N worker processes (scripts/worker.sh, as `npm run worker` starts them; configured only by environment variables)
// in one consumer group.

export interface FleetSpec {
  /** Names the fleet's topics, group and Redis prefix, e.g. "w2". */
  label: string;
  count: number;
  partitions: number;
  /** Environment every worker gets (topics, group, database, Redis prefix, keys). */
  env: Record<string, string>;
  firstHttpPort: number;
  logDir: string;
  nodeArgs: string[];
  /** The checkout whose src/main.ts runs. */
  workerDir: string;
}

export class WorkerFleet {
  private constructor(
    readonly spec: FleetSpec,
    readonly workers: (Child & { httpPort: number })[],
  ) {}

  static start(spec: FleetSpec): WorkerFleet {
    const workers = Array.from({ length: spec.count }, (_, i) => {
      const httpPort = spec.firstHttpPort + i;
      const child = spawnWorker(`worker ${spec.label}-${i + 1}`, { ...spec.env, HTTP_PORT: String(httpPort) }, join(spec.logDir, `worker-${spec.label}-${i + 1}.log`), spec.nodeArgs, spec.workerDir);
      return Object.assign(child, { httpPort });
    });
    return new WorkerFleet(spec, workers);
  }

  /** A worker that has exited on its own, named, for failing fast instead of timing out. */
  private deadWorker = (): string | undefined => {
    const dead = this.workers.find((w) => w.process.exitCode !== null || w.process.signalCode !== null);
    return dead ? `${dead.name} exited (log: ${join(this.spec.logDir, `worker-${dead.name.split(' ')[1]}.log`)})` : undefined;
  };

  /**
   * Every worker answers /readyz, and the consumer group is Stable with one member per worker, each holding
   * at least one partition and together all of them. (The caller then proves each partition answers.)
   */
  private memberIds = '';

  async waitReady(admin: Admin): Promise<number[][]> {
    for (const w of this.workers) {
      await until(`${w.name} /readyz`, () => fetch(`http://127.0.0.1:${w.httpPort}/readyz`).then((r) => r.ok), 120_000, this.deadWorker);
    }
    let assignment: number[][] = [];
    await until(
      `consumer group ${this.spec.env.CONSUMER_GROUP} to settle with ${this.spec.count} member(s)`,
      async () => {
        const found = await groupAssignment(admin, this.spec.env.CONSUMER_GROUP!, this.spec.env.COMMANDS_TOPIC!);
        if (!found || found.length !== this.spec.count || found.some((m) => m.partitions.length === 0)) return false;
        if (new Set(found.flatMap((m) => m.partitions)).size !== this.spec.partitions) return false;
        assignment = found.map((m) => m.partitions);
        this.memberIds = memberKey(found);
        return true;
      },
      120_000,
      this.deadWorker,
    );
    return assignment;
  }

  /**
   * Whether the group is still the one that was ready: a worker starved of CPU past the session timeout is
   * dropped from the group and rejoins under a new member id, and its partitions stall meanwhile.
   */
  async sameGroupAsReady(admin: Admin): Promise<boolean> {
    const found = await groupAssignment(admin, this.spec.env.CONSUMER_GROUP!, this.spec.env.COMMANDS_TOPIC!).catch(() => undefined);
    return found !== undefined && memberKey(found) === this.memberIds;
  }

  pids(): number[] {
    return this.workers.map((w) => w.pid);
  }

  cpuSeconds = (): number => this.workers.reduce((sum, w) => sum + processCpuSeconds(w.pid), 0);

  /** Peak RSS (VmHWM) of each worker so far, bytes. */
  peakRss(): number[] {
    return this.workers.map((w) => peakRssBytes(w.pid));
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => stopChild(w)));
  }
}

const memberKey = (members: { memberId: string }[]) => members.map((m) => m.memberId).sort().join(',');
