import { describe, expect, it } from 'vitest';
import { HELP, parseBenchArgs, UsageError } from '../../../bench/pipeline/args.js';

describe('parseBenchArgs', () => {
  it('defaults to what issue 10 asks for', () => {
    expect(parseBenchArgs([])).toMatchObject({
      commands: 20_000,
      workers: [1, 2, 3],
      rates: [200, 500, 800],
      rateSeconds: 20,
      latencyWorkers: 1,
      partitions: 6,
      environments: 12,
      baselineCommands: 20_000,
      pgConcurrency: 6,
      groupSize: 32,
      skipBaselines: false,
      quick: false,
      help: false,
    });
  });

  it('--quick shrinks the run, and explicit options still win', () => {
    expect(parseBenchArgs(['--quick'])).toMatchObject({ commands: 2000, workers: [1, 2], rates: [200, 500], rateSeconds: 3, warmupCommands: 200 });
    expect(parseBenchArgs(['--quick', '--commands', '500', '--workers', '3'])).toMatchObject({ commands: 500, baselineCommands: 500, workers: [3], latencyWorkers: 3 });
  });

  it('reads lists, and "none" skips the latency steps', () => {
    expect(parseBenchArgs(['--workers', '2,4', '--rates', '100, 300'])).toMatchObject({ workers: [2, 4], rates: [100, 300], latencyWorkers: 2, partitions: 6 });
    expect(parseBenchArgs(['--rates', 'none']).rates).toEqual([]);
    expect(parseBenchArgs(['--workers', '8']).partitions).toBe(8);
    expect(parseBenchArgs(['--warmup-seconds', '0', '--warmup-commands', '0'])).toMatchObject({ warmupSeconds: 0, warmupCommands: 0 });
  });

  it('refuses settings that would leave a worker or a partition idle', () => {
    expect(() => parseBenchArgs(['--workers', '4', '--partitions', '3'])).toThrow(/fewer than the largest worker count/);
    expect(() => parseBenchArgs(['--partitions', '8', '--environments', '6'])).toThrow(/a partition would get no key/);
    expect(() => parseBenchArgs(['--latency-workers', '5'])).toThrow(/not one of --workers/);
  });

  it('--private-broker takes an optional port, never the shared 9092 nor one in the ephemeral range', () => {
    expect(parseBenchArgs([]).privateBrokerPort).toBeUndefined();
    expect(parseBenchArgs(['--private-broker']).privateBrokerPort).toBe(29292);
    expect(parseBenchArgs(['--private-broker', '29400', '--quick'])).toMatchObject({ privateBrokerPort: 29400, quick: true });
    expect(() => parseBenchArgs(['--private-broker', '9092'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['--private-broker', '40000'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['stray'])).toThrow(/unexpected argument/);
  });

  it('refuses unknown options and values that are not positive integers', () => {
    for (const argv of [['--bogus'], ['--commands', '0'], ['--commands', '1.5'], ['--workers', '1,x'], ['--workers', 'none']]) {
      expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    }
  });

  it('documents every option it accepts', () => {
    for (const option of ['commands', 'workers', 'rates', 'rate-seconds', 'warmup-seconds', 'drain-seconds', 'latency-workers', 'partitions', 'environments', 'baseline-commands', 'pg-concurrency', 'group-size', 'warmup-commands', 'skip-baselines', 'private-broker', 'quick', 'help']) {
      expect(HELP).toContain(`--${option}`);
    }
    expect(parseBenchArgs(['--help']).help).toBe(true);
  });
});
