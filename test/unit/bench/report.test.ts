import { describe, expect, it } from 'vitest';
import { ratios, scaleOutVerdict, targets, type FleetResult } from '../../../bench/pipeline/report.js';

const fleet = (workers: number, perSecond: number, cores: Record<string, number>, machineBusyCores: number): FleetResult => {
  const wallSeconds = 10;
  return {
    workers,
    assignment: [],
    throughput: { commands: perSecond * wallSeconds, seconds: wallSeconds, perSecond, errors: 0 },
    cpu: { wallSeconds, cpuSeconds: Object.fromEntries(Object.entries(cores).map(([k, v]) => [k, v * wallSeconds])), machineBusyCores, machineStealCores: 0 },
    peakRssBytes: Array(workers).fill(200 * 2 ** 20),
    rebalancedDuring: [],
  };
};
const quiet = { broker: 0.2, postgres: 0.3, postgresBenchDatabase: 0.3, redis: 0.05, loadGenerator: 0.1 };

describe('scaleOutVerdict', () => {
  it('names the machine as the limit when its cores are saturated, with the shares per command', () => {
    const text = scaleOutVerdict([fleet(1, 400, { workers: 1, ...quiet }, 1.65), fleet(3, 600, { workers: 1.2, ...quiet }, 1.95)], 2);
    expect(text).toContain('400 → 600 commands/s (×1.50)');
    expect(text).toContain('The 2 cores are saturated');
    expect(text).toMatch(/workers \d+ %, Postgres \d+ %/);
    expect(text).not.toContain('Other processes');
  });

  it('names one busy JavaScript thread when the machine has CPU left', () => {
    expect(scaleOutVerdict([fleet(1, 400, { workers: 0.95, ...quiet }, 1.6), fleet(2, 700, { workers: 1.4, ...quiet }, 1.7)], 4)).toContain('One worker keeps its JavaScript thread busy');
  });

  it('says the limit is waiting, not CPU, when nothing is busy, and counts CPU taken by others', () => {
    const text = scaleOutVerdict([fleet(1, 100, { workers: 0.3, ...quiet }, 1.5), fleet(2, 110, { workers: 0.4, ...quiet }, 1.6)], 4);
    expect(text).toContain('not CPU');
    expect(text).toMatch(/Other processes .* took 0\.55 cores/);
  });
});

describe('ratios and targets', () => {
  const baselines = {
    kafkajsEcho: { messages: 1, seconds: 1, perSecond: 2000, echoCpuSeconds: 1, cpu: fleet(1, 1, {}, 0).cpu },
    postgresOneTransactionPerCommand: { commands: 1, seconds: 1, perSecond: 900, transactions: 1, concurrency: 6, commandsPerTransaction: 1, cpu: fleet(1, 1, {}, 0).cpu },
  };

  it('divides our throughput by each baseline measured, null for one not measured', () => {
    expect(ratios(1000, baselines)).toEqual({ vsKafkajsEcho: 0.5, vsPostgresOneTransactionPerCommand: 1000 / 900, vsPostgresLimit: null });
  });

  it('checks the issue targets, null for what was not measured', () => {
    const one = fleet(1, 1100, { workers: 1 }, 1);
    expect(targets(one, baselines)).toEqual({
      throughputAtLeast1_2xOneTransactionPerCommand: true,
      throughputAtLeast0_5xKafkajsEcho: true,
      p99AtMost50msAt500PerSecond: null,
      peakWorkerRssAtMost300MB: true,
    });
    expect(targets(fleet(1, 1000, { workers: 1 }, 1), baselines).throughputAtLeast1_2xOneTransactionPerCommand).toBe(false);
  });
});
