import type { ChaosRun } from './chaos-run.js';
import type { ProgressOutcome } from './wait.js';
import type { Verdict } from './verifier.js';

// What a chaos run prints and (for the soak) writes as JSON: the four counts, the details behind them, the
// faults with their timing, and which fault each anomaly most likely belongs to.

export interface ChaosReport {
  run: string;
  at: string;
  commands: number;
  keys: number;
  workers: number;
  durationS: number;
  settled: ProgressOutcome;
  counts: Verdict['counts'];
  details: Omit<Verdict, 'counts' | 'commandsBehind'>;
  faults: Array<{ name: string; atS: number; durationS: number; detail: string }>;
  anomaliesByFault: Record<string, Record<string, number>>;
  /** A few command ids behind each non-zero count, to look up in the database or the worker logs. */
  examples: Record<string, string[]>;
  workerStartsAndKills: { started: number; killed: number };
  /** Workers that exited without being killed by a fault (crashes, or signals from outside the run). */
  unexpectedExits: Array<{ name: string; atS: number; code: number | null; signal: string | null }>;
  redisRestarts: number;
  sendRetries: number;
}

export function buildReport(run: ChaosRun, settled: ProgressOutcome, verdict: Verdict, byFault: Record<string, Record<string, number>>): ChaosReport {
  const { counts, commandsBehind, ...details } = verdict;
  const s = (ms: number) => Math.round(ms / 100) / 10;
  return {
    run: run.run,
    at: new Date(run.startedAt).toISOString(),
    commands: run.plan.commands.length,
    keys: run.plan.environments.length,
    workers: run.options.workers,
    durationS: s(Date.now() - run.startedAt),
    settled,
    counts,
    details,
    faults: run.faults.map((f) => ({ name: f.name, atS: s(f.at - run.startedAt), durationS: s(f.durationMs), detail: f.detail })),
    anomaliesByFault: byFault,
    examples: Object.fromEntries(Object.entries(commandsBehind).filter(([, ids]) => ids.length).map(([kind, ids]) => [kind, ids.slice(0, 5)])),
    workerStartsAndKills: { started: run.fleet.started, killed: run.fleet.killed },
    unexpectedExits: run.fleet.unexpectedExits.map((e) => ({ name: e.name, atS: s(e.at - run.startedAt), code: e.code, signal: e.signal })),
    redisRestarts: run.redis.restarts,
    sendRetries: run.sender.sendRetries,
  };
}

export function printReport(report: ChaosReport, log: (line: string) => void): void {
  const { counts, details } = report;
  log(`run ${report.run}: ${report.commands} commands over ${report.keys} keys, ${report.workers} workers, ${report.durationS} s`);
  for (const f of report.faults) log(`  fault at t+${f.atS}s ${f.name}: ${f.detail}`);
  log(`  lost ${counts.lost} | applied twice ${counts.appliedTwice} | unanswered ${counts.unanswered} | out of order ${counts.outOfOrder}`);
  log(`  also: events missing ${details.missingEvents}, applied out of order ${details.appliedOutOfOrder}, reply statuses ${JSON.stringify(details.replyStatuses)}, duplicate event deliveries ${details.duplicateEventDeliveries}, duplicate replies ${details.duplicateReplies}`);
  if (report.unexpectedExits.length) log(`  workers that exited on their own: ${JSON.stringify(report.unexpectedExits)}`);
  if (Object.keys(report.anomaliesByFault).length) log(`  anomalies by the interval between faults in which they were handled: ${JSON.stringify(report.anomaliesByFault)}`);
}
