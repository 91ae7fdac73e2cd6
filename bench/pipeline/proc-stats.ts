import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pidOwningLocalPort } from '../../test/integration/chaos/relay-leader.js';
import { parseMachineCpu, parseProcStat, parseProcStatus, postgresBackendDatabase, type MachineCpu, type ProcStat } from './proc-parse.js';

// CPU and memory of the processes taking part in a measurement, read from /proc (Linux only).

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process has gone, or is not ours to read
  }
};

function allStats(): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = read(`/proc/${name}/stat`);
    if (text) stats.push(parseProcStat(text));
  }
  return stats;
}

/** CPU seconds of one process and its reaped children; NaN when it cannot be read. */
export function processCpuSeconds(pid: number): number {
  const text = read(`/proc/${pid}/stat`);
  if (!text) return NaN;
  const s = parseProcStat(text);
  return (s.utime + s.stime + s.cutime + s.cstime) / CLOCK_TICKS;
}

/** Peak resident set (VmHWM) of a live process, bytes. */
export function peakRssBytes(pid: number): number {
  const text = read(`/proc/${pid}/status`);
  return text ? parseProcStatus(text).vmHwmBytes : NaN;
}

/**
 * All of Postgres: every live postgres process, plus what the postmaster has reaped (backends that exited
 * between two readings are counted there), and the backends connected to `database` alone.
 */
export function postgresCpuSeconds(database?: string): { all: number; database: number } {
  const stats = allStats().filter((s) => s.comm === 'postgres');
  const pids = new Set(stats.map((s) => s.pid));
  let all = 0;
  let ofDatabase = 0;
  for (const s of stats) {
    all += s.utime + s.stime + (pids.has(s.ppid) ? 0 : s.cutime + s.cstime);
    if (database && postgresBackendDatabase(read(`/proc/${s.pid}/cmdline`) ?? '') === database) ofDatabase += s.utime + s.stime;
  }
  return { all: all / CLOCK_TICKS, database: ofDatabase / CLOCK_TICKS };
}

export function redisCpuSeconds(): number {
  return allStats().filter((s) => s.comm === 'redis-server').reduce((sum, s) => sum + s.utime + s.stime, 0) / CLOCK_TICKS;
}

/**
 * The broker's JVM: the pid file scripts/kafka.sh keeps in its run directory when that process is a broker,
 * else whichever process listens on the broker's port.
 */
export function findBrokerPid(port: number, runDir: string): number | undefined {
  const fromFile = Number(read(join(runDir, 'kafka.pid'))?.trim());
  if (fromFile && (read(`/proc/${fromFile}/cmdline`) ?? '').includes('kafka.Kafka')) return fromFile;
  return pidOwningLocalPort(port, readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number));
}

export function machineCpu(): MachineCpu {
  return parseMachineCpu(read('/proc/stat') ?? '');
}

/** CPU seconds of each named party, wall time and the machine's busy/idle, at one moment. */
export interface CpuSnapshot {
  atMs: number;
  seconds: Record<string, number>;
  machine: MachineCpu;
}

export type CpuSources = Record<string, () => number>;

export function snapshot(sources: CpuSources): CpuSnapshot {
  const seconds: Record<string, number> = {};
  for (const [name, read] of Object.entries(sources)) seconds[name] = read();
  return { atMs: performance.now(), seconds, machine: machineCpu() };
}

export interface CpuUsage {
  wallSeconds: number;
  /** CPU seconds of each party over the interval. */
  cpuSeconds: Record<string, number>;
  /** Cores' worth busy of the whole machine (everything on it, other users too), and of it stolen. */
  machineBusyCores: number;
  machineStealCores: number;
}

export function usageBetween(before: CpuSnapshot, after: CpuSnapshot): CpuUsage {
  const wallSeconds = (after.atMs - before.atMs) / 1000;
  const cpuSeconds: Record<string, number> = {};
  for (const name of Object.keys(after.seconds)) cpuSeconds[name] = after.seconds[name]! - (before.seconds[name] ?? NaN);
  const ticks = (m: MachineCpu) => m.busy + m.idle;
  const totalTicks = ticks(after.machine) - ticks(before.machine);
  const cores = totalTicks / CLOCK_TICKS / wallSeconds;
  return {
    wallSeconds,
    cpuSeconds,
    machineBusyCores: ((after.machine.busy - before.machine.busy) / totalTicks) * cores,
    machineStealCores: ((after.machine.steal - before.machine.steal) / totalTicks) * cores,
  };
}

/** The load generator itself (this process), CPU seconds. */
export const benchCpuSeconds = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
