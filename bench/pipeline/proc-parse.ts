// Parsers of the /proc files the bench reads (pure: text in, numbers out). See proc(5).

export interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** Clock ticks in user / kernel mode, of the process and of its waited-for children. */
  utime: number;
  stime: number;
  cutime: number;
  cstime: number;
}

/** /proc/<pid>/stat. `comm` may hold spaces and parentheses, so fields are counted from its last ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state): field n is fields[n - 3].
  const field = (n: number) => Number(fields[n - 3]);
  return { pid: Number(text.slice(0, open).trim()), comm: text.slice(open + 1, close), ppid: field(4), utime: field(14), stime: field(15), cutime: field(16), cstime: field(17) };
}

/** VmHWM (peak resident set) and VmRSS of /proc/<pid>/status, in bytes. */
export function parseProcStatus(text: string): { vmHwmBytes: number; vmRssBytes: number } {
  const kib = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return match ? Number(match[1]) * 1024 : NaN;
  };
  return { vmHwmBytes: kib('VmHWM'), vmRssBytes: kib('VmRSS') };
}

export interface MachineCpu {
  /** Ticks of all CPUs busy (user, nice, system, irq, softirq, steal) and idle (idle, iowait). */
  busy: number;
  idle: number;
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat. */
export function parseMachineCpu(text: string): MachineCpu {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('no aggregate cpu line in /proc/stat');
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return { busy: user! + nice! + system! + irq! + softirq! + (steal ?? 0), idle: idle! + iowait!, steal: steal ?? 0 };
}

/**
 * The database of a Postgres backend from its process title (`postgres: user db host(port) state`, or with the
 * cluster name first: `postgres: 15/main: user db …`); undefined for the postmaster and background processes.
 */
export function postgresBackendDatabase(cmdline: string): string | undefined {
  const title = cmdline.replace(/\0/g, ' ').trim();
  const match = /^postgres:\s+(?:\S+:\s+)?(\S+)\s+(\S+)\s+(?:\S+\(\d+\)|\[local\])/.exec(title);
  return match?.[2];
}
