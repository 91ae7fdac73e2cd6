import { describe, expect, it } from 'vitest';
import { parseMachineCpu, parseProcStat, parseProcStatus, postgresBackendDatabase } from '../../../bench/pipeline/proc-parse.js';

describe('parseProcStat', () => {
  it('reads ppid and the four CPU tick counters', () => {
    const line = '2197 (postgres) S 1 2197 2197 0 -1 4194304 6768 440064 0 12 1 15 7756 2496 20 0 1 0 2988 222445568 7382 18446744073709551615';
    expect(parseProcStat(line)).toEqual({ pid: 2197, comm: 'postgres', ppid: 1, utime: 1, stime: 15, cutime: 7756, cstime: 2496 });
  });

  it('counts fields from the last parenthesis, whatever the command name holds', () => {
    const line = '4242 (node (a) b) R 77 4242 4242 0 -1 0 0 0 0 0 300 40 5 6 20 0 11 0 100 0 0';
    expect(parseProcStat(line)).toMatchObject({ pid: 4242, comm: 'node (a) b', ppid: 77, utime: 300, stime: 40, cutime: 5, cstime: 6 });
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseProcStat('no parentheses here')).toThrow(/not a \/proc/);
  });
});

describe('parseProcStatus', () => {
  it('reads VmHWM and VmRSS in bytes', () => {
    const text = 'Name:\tnode\nVmPeak:\t 1200000 kB\nVmHWM:\t  312340 kB\nVmRSS:\t  298000 kB\nThreads:\t11\n';
    expect(parseProcStatus(text)).toEqual({ vmHwmBytes: 312340 * 1024, vmRssBytes: 298000 * 1024 });
  });

  it('answers NaN for a process without memory lines (a kernel thread)', () => {
    expect(parseProcStatus('Name:\tkthreadd\n').vmHwmBytes).toBeNaN();
  });
});

describe('parseMachineCpu', () => {
  it('adds up busy and idle ticks of the aggregate line', () => {
    const text = 'cpu  48156 24299 21121 55579 527 0 1537 338 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n';
    expect(parseMachineCpu(text)).toEqual({ busy: 48156 + 24299 + 21121 + 0 + 1537 + 338, idle: 55579 + 527, steal: 338 });
  });
});

describe('postgresBackendDatabase', () => {
  it('reads the database of a backend, with or without the cluster name in the title', () => {
    expect(postgresBackendDatabase('postgres: 15/main: postgres experimentation_bench_ab12 127.0.0.1(50678) idle')).toBe('experimentation_bench_ab12');
    expect(postgresBackendDatabase('postgres: app shop 10.0.0.2(41000) SELECT')).toBe('shop');
    expect(postgresBackendDatabase('postgres: app shop [local] idle in transaction')).toBe('shop');
  });

  it('answers undefined for the postmaster and the background processes', () => {
    expect(postgresBackendDatabase('/usr/lib/postgresql/15/bin/postgres\0-D\0/var/lib/postgresql/15/main\0')).toBeUndefined();
    expect(postgresBackendDatabase('postgres: 15/main: checkpointer')).toBeUndefined();
    expect(postgresBackendDatabase('postgres: 15/main: background writer')).toBeUndefined();
    expect(postgresBackendDatabase('postgres: 15/main: logical replication launcher')).toBeUndefined();
  });
});
