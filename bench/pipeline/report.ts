import { cpus } from 'node:os';
import type { EchoBaseline } from './echo-baseline.js';
import type { LatencyStep } from './latency.js';
import type { PostgresBaseline } from './postgres-baselines.js';
import type { CpuUsage } from './proc-stats.js';
import type { Throughput } from './throughput.js';

// The run's figures as one JSON document and as tables on stdout, with the issue's targets and a sentence on
// what limits the scale-out, derived from the /proc figures.

export interface FleetResult {
  workers: number;
  /** Partitions of the commands topic held by each worker. */
  assignment: number[][];
  throughput: Throughput;
  cpu: CpuUsage;
  /** VmHWM of each worker process at the end of its fleet's phases, bytes. */
  peakRssBytes: number[];
  latency?: (LatencyStep & { cpu: CpuUsage })[];
  /** Phases during which the consumer group was not the one that was ready (a member dropped and rejoined). */
  rebalancedDuring: string[];
  /** Offered rates not measured because a lower one had already overloaded the workers. */
  latencySkipped?: number[];
}

export interface Baselines {
  kafkajsEcho?: EchoBaseline & { cpu: CpuUsage };
  postgresOneTransactionPerCommand?: PostgresBaseline & { cpu: CpuUsage };
  postgresLimit?: PostgresBaseline & { cpu: CpuUsage };
}

export function perThousand(cpu: CpuUsage, commands: number): Record<string, number> {
  return Object.fromEntries(Object.entries(cpu.cpuSeconds).map(([party, seconds]) => [party, (seconds / commands) * 1000]));
}

export function ratios(ours: number, baselines: Baselines): Record<string, number | null> {
  const of = (b?: { perSecond: number }) => (b ? ours / b.perSecond : null);
  return { vsKafkajsEcho: of(baselines.kafkajsEcho), vsPostgresOneTransactionPerCommand: of(baselines.postgresOneTransactionPerCommand), vsPostgresLimit: of(baselines.postgresLimit) };
}

export function targets(one: FleetResult | undefined, baselines: Baselines): Record<string, boolean | null> {
  const at500 = one?.latency?.find((s) => s.offeredRate === 500);
  const r = one ? ratios(one.throughput.perSecond, baselines) : {};
  return {
    throughputAtLeast1_2xOneTransactionPerCommand: r.vsPostgresOneTransactionPerCommand == null ? null : r.vsPostgresOneTransactionPerCommand >= 1.2,
    throughputAtLeast0_5xKafkajsEcho: r.vsKafkajsEcho == null ? null : r.vsKafkajsEcho >= 0.5,
    p99AtMost50msAt500PerSecond: at500 ? at500.p99Ms <= 50 : null,
    peakWorkerRssAtMost300MB: one ? Math.max(...one.peakRssBytes) <= 300 * 2 ** 20 : null,
  };
}

const cores = (cpu: CpuUsage, party: string) => (cpu.cpuSeconds[party] ?? NaN) / cpu.wallSeconds;

/** The parties the verdict weighs: Postgres as this run's backends, since other databases' work is not ours. */
const OURS = ['workers', 'broker', 'postgresBenchDatabase', 'redis', 'loadGenerator'] as const;
const LABEL: Record<string, string> = { workers: 'workers', broker: 'broker', postgresBenchDatabase: 'Postgres', redis: 'Redis', loadGenerator: 'load generator' };

/** What the /proc figures say limits the scale-out on this machine. */
export function scaleOutVerdict(fleets: FleetResult[], machineCores = cpus().length): string {
  if (!fleets.length) return '';
  const first = fleets[0]!;
  const last = fleets[fleets.length - 1]!;
  const f = (x: number) => x.toFixed(2);
  const gain = last.throughput.perSecond / first.throughput.perSecond;
  const used = OURS.map((p) => `${LABEL[p]} ${f(cores(last.cpu, p))}`).join(', ');
  let sentence = `From ${first.workers} to ${last.workers} worker(s) throughput went ${first.throughput.perSecond.toFixed(0)} → ${last.throughput.perSecond.toFixed(0)} commands/s (×${gain.toFixed(2)}). Cores in use with ${last.workers}: ${used}; the whole machine ${f(last.cpu.machineBusyCores)} of ${machineCores}.`;
  const per1000 = perThousand(last.cpu, last.throughput.commands);
  const total = OURS.reduce((sum, p) => sum + (per1000[p] || 0), 0);
  const shares = [...OURS].sort((a, b) => (per1000[b] ?? 0) - (per1000[a] ?? 0)).map((p) => `${LABEL[p]} ${(((per1000[p] || 0) / total) * 100).toFixed(0)} %`);
  if (last.cpu.machineBusyCores >= 0.9 * machineCores) {
    sentence += ` The ${machineCores} cores are saturated, so another worker process only shares the same CPU: the limit is the machine's CPU, which this run spends per command as ${shares.join(', ')}.`;
  } else if (cores(first.cpu, 'workers') / first.workers >= 0.85) {
    sentence += ` One worker keeps its JavaScript thread busy (${f(cores(first.cpu, 'workers'))} cores) and the machine has CPU left, so more worker processes add throughput until the cores run out.`;
  } else {
    sentence += ` The CPU is not saturated: the limit is waiting (round trips, batching, the consumer's fetches), not CPU; per command the CPU goes to ${shares.join(', ')}.`;
  }
  const others = last.cpu.machineBusyCores - OURS.reduce((sum, p) => sum + (cores(last.cpu, p) || 0), 0);
  if (others > 0.2) sentence += ` Other processes (other databases' Postgres work included) took ${f(others)} cores meanwhile: the machine was shared, so the figures may be lower than on a quiet machine.`;
  return sentence;
}

const n0 = (x: number | null | undefined) => (x == null || Number.isNaN(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const n2 = (x: number | null | undefined) => (x == null || Number.isNaN(x) ? '–' : x.toFixed(2));
const ms = (x: number) => (x === Infinity ? '> drain' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function renderTables(fleets: FleetResult[], baselines: Baselines, verdict: string): string {
  const out: string[] = [];
  out.push(
    table(
      ['workers', 'commands/s', 'seconds', 'errors', 'peak RSS per worker', 'CPU s / 1,000 commands: workers', 'broker', 'postgres (all)', 'postgres (bench db)', 'redis', 'load gen', 'machine busy'],
      fleets.map((r) => {
        const p = perThousand(r.cpu, r.throughput.commands);
        return [String(r.workers), n0(r.throughput.perSecond), n2(r.throughput.seconds), String(r.throughput.errors), r.peakRssBytes.map(mb).join(', '), n2(p.workers), n2(p.broker), n2(p.postgres), n2(p.postgresBenchDatabase), n2(p.redis), n2(p.loadGenerator), `${n2(r.cpu.machineBusyCores)} cores`];
      }),
    ),
  );
  const one = fleets[0];
  if (one) {
    const ours = one.throughput.perSecond;
    const rows: [string, { perSecond: number } | undefined, string][] = [
      ['kafkajs echo (consume → produce, no database)', baselines.kafkajsEcho, 'messages/s'],
      ['Postgres alone, one transaction per command', baselines.postgresOneTransactionPerCommand, 'commands/s'],
      [`Postgres alone, the worker's writes, ${baselines.postgresLimit?.commandsPerTransaction ?? 32} per transaction + savepoints ("the limit")`, baselines.postgresLimit, 'commands/s'],
    ];
    const present = rows.filter(([, b]) => b);
    if (present.length) {
      out.push('', table(['baseline', 'rate', `ours (${one.workers} worker) as a ratio`], present.map(([name, b, unit]) => [name, `${n0(b!.perSecond)} ${unit}`, `${n2(ours / b!.perSecond)}×`])));
    }
    if (one.latency?.length) {
      out.push(
        '',
        table(
          ['offered/s', 'achieved/s', 'answered/s', 'p50', 'p95', 'p99', 'max', 'unanswered', 'not 201', 'CPU s / 1,000: workers', 'broker', 'postgres'],
          one.latency.map((s) => {
            const p = perThousand(s.cpu, s.commandsSent);
            return [String(s.offeredRate), n0(s.achievedRate), n0(s.answeredRate), ms(s.p50Ms), ms(s.p95Ms), ms(s.p99Ms), ms(s.maxMs), String(s.unanswered), String(s.non201), n2(p.workers), n2(p.broker), n2(p.postgres)];
          }),
        ),
      );
      if (one.latencySkipped?.length) out.push(`not measured: ${one.latencySkipped.map((r) => `${r}/s`).join(', ')} (a lower rate's queue did not drain: above capacity)`);
    }
    const t = targets(one, baselines);
    const mark = (x: boolean | null) => (x === null ? 'not measured' : x ? 'met' : 'MISSED');
    out.push(
      '',
      `targets (${one.workers} worker): throughput ≥ 1.2× one transaction per command: ${mark(t.throughputAtLeast1_2xOneTransactionPerCommand!)}; ≥ 0.5× kafkajs echo: ${mark(t.throughputAtLeast0_5xKafkajsEcho!)}; p99 ≤ 50 ms at 500/s: ${mark(t.p99AtMost50msAt500PerSecond!)}; peak RSS ≤ 300 MB: ${mark(t.peakWorkerRssAtMost300MB!)}`,
    );
  }
  for (const r of fleets) if (r.rebalancedDuring.length) out.push('', `warning: with ${r.workers} worker(s) the consumer group rebalanced during ${r.rebalancedDuring.join(', ')}: those figures include the stall.`);
  if (verdict) out.push('', `scale-out: ${verdict}`);
  return out.join('\n');
}
