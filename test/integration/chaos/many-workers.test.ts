import { afterAll, describe, expect, it } from 'vitest';
import { ChaosRun } from './chaos-run.js';
import { cutDatabaseConnections, killRelayLeader, killWorker, restartRedisEmpty, runWithFaults } from './chaos-faults.js';
import { buildReport, printReport } from './report.js';

// Items 5 and 6 of "Nothing lost, nothing reordered": three worker processes in one consumer group, 3,000
// commands over 30 keys, and mid-stream a SIGKILLed worker, a SIGKILLed relay leader, every database
// connection cut (and new ones refused for 1 s, well within the retry budget, so that in-flight commands
// reliably fail and are retried), and Redis restarted empty. CHAOS_LOG_DIR keeps each worker's log;
// CHAOS_LOG_LEVEL sets their level.

const log = (message: string) => console.log(`[chaos] ${new Date().toISOString().slice(11, 19)} ${message}`);
let run: ChaosRun | undefined;
afterAll(() => run?.teardown(), 120_000);

describe('many workers under faults', () => {
  it('applies every command exactly once, answers every one, and publishes each key in order', async () => {
    run = await ChaosRun.create({
      prefix: 'test',
      brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
      commands: 3000,
      keys: 30,
      workers: 3,
      workerEnv: { LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn' },
      ...(process.env.CHAOS_LOG_DIR ? { logDir: process.env.CHAOS_LOG_DIR } : {}),
      log,
    });
    const chaos = run;
    // Five bursts of 600; the first four each get a fault while half of the burst is still to do.
    await runWithFaults(chaos, [() => killWorker(chaos), () => killRelayLeader(chaos), () => cutDatabaseConnections(chaos, 1000), () => restartRedisEmpty(chaos)], 600);
    // What has not arrived 30 s after the last reply or event is not coming (retries and rebalances finish well within that).
    const settled = await run.settle(30_000, 150_000);

    const { verdict, byFault } = await run.verify();
    printReport(buildReport(run, settled, verdict, byFault), log);
    expect(verdict.counts).toEqual({ lost: 0, appliedTwice: 0, unanswered: 0, outOfOrder: 0 });
    expect(verdict.missingEvents).toBe(0);
  }, 330_000);
});
