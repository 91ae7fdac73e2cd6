import { parseArgs } from 'node:util';

// The bench's command line: parsed here without side effects, so it can be unit-tested.

export interface BenchOptions {
  /** Commands sent at once in each throughput measurement. */
  commands: number;
  /** Worker process counts, each measured in turn (scale-out). */
  workers: number[];
  /** Offered rates (commands/s) of the latency steps; empty skips the latency phase. */
  rates: number[];
  rateSeconds: number;
  warmupSeconds: number;
  /** How long a latency step may wait for its last replies before counting the rest as unanswered. */
  drainSeconds: number;
  /** Worker count the latency steps run with. */
  latencyWorkers: number;
  /** Partitions of the commands topic (at least the largest worker count). */
  partitions: number;
  /** Message keys (environments) the commands are spread over. */
  environments: number;
  /** Commands of each Postgres baseline and messages of the echo baseline. */
  baselineCommands: number;
  /** Connections (lanes) of the Postgres baselines: the worker's PARTITIONS_CONSUMED_CONCURRENTLY. */
  pgConcurrency: number;
  /** Commands per transaction of the "limit" baseline. */
  groupSize: number;
  /** Commands sent before each throughput measurement, not measured. */
  warmupCommands: number;
  skipBaselines: boolean;
  /** Start a broker of the run's own on this port (and the next, for its controller) instead of KAFKA_BROKERS. */
  privateBrokerPort?: number;
  quick: boolean;
  help: boolean;
}

export const HELP = `Usage: npm run bench [-- options]

End-to-end benchmark of the command pipeline. It treats the worker as a black box: it starts worker processes
(src/main.ts) configured by environment variables, on topics, a database and a Redis prefix of its own, and
talks Kafka to them. Needs Kafka, Postgres and Redis (npm run stack up). Phases, in one run:
  1. throughput: for each worker count, N metric.create sent at once, first send → last reply; the workers are
     in one consumer group and are started and ready (group stable, every partition answering a probe) first;
  2. latency: open-loop sending at each offered rate for S seconds (after a warm-up that is not measured),
     p50/p95/p99/max send → reply, achieved rate, unanswered count (rates above one whose queue did not drain
     are skipped: they would measure that backlog);
  3. baselines: kafkajs echo (consume → produce, no database); Postgres alone, each command's writes as one
     transaction; Postgres alone, the worker's statements 32 commands per transaction with a savepoint each
     ("the limit"); both Postgres baselines at the same concurrency.
Also: peak RSS (VmHWM) of every worker process, CPU seconds per 1,000 commands of the workers, the broker,
Postgres and Redis (from /proc), and how busy the machine was. Output: a table on stdout and
bench/results/pipeline-<timestamp>.json (worker logs in bench/results/pipeline-<timestamp>-logs/).

Options:
  --commands N            commands per throughput measurement (default 20000)
  --workers LIST          worker counts, comma-separated (default 1,2,3)
  --rates LIST            offered rates of the latency steps, commands/s (default 200,500,800; "none" skips)
  --rate-seconds S        measured seconds of each latency step (default 20)
  --warmup-seconds S      unmeasured seconds at the same rate before each step (default 2)
  --drain-seconds S       longest wait for a step's last replies (default 60)
  --latency-workers W     worker count of the latency steps (default: the first of --workers)
  --partitions P          partitions of the commands topic (default 6; at least the largest worker count)
  --environments K        message keys (environments) the commands are spread over (default 12; at least P)
  --baseline-commands N   commands of each baseline (default: --commands)
  --pg-concurrency C      connections of the Postgres baselines (default 6, the worker's
                          PARTITIONS_CONSUMED_CONCURRENTLY)
  --group-size G          commands per transaction of the "limit" baseline (default 32)
  --warmup-commands N     commands sent before each throughput measurement (default 1000)
  --skip-baselines        only the worker phases
  --private-broker [PORT] start a broker of the run's own (scripts/kafka.sh, port 29292 and the next, state in
                          .run/kafka-bench) and stop it at the end: on a shared machine its CPU is then the run's
  --quick                 smoke run: 2000 commands, workers 1,2, rates 200,500 for 3 s, 200 warm-up commands
                          (explicit options still win)
  --help                  this text

Environment: KAFKA_BROKERS (127.0.0.1:9092), BENCH_POSTGRES_URL (postgres://postgres@127.0.0.1:5432/postgres:
the server; the bench creates and drops a database of its own there), REDIS_URL (redis://127.0.0.1:6379),
KAFKA_RUN_DIR (where scripts/kafka.sh keeps the broker's pid file; default .run/kafka; else the broker is found
by its listening port), BENCH_NODE_ARGS (extra node flags of the worker processes, e.g. "--cpu-prof
--cpu-prof-dir=/tmp/prof"), BENCH_WORKER_DIR (the checkout whose worker runs, default this one: compares two
versions under the same bench; it migrates the run's database too). Ctrl-C stops the workers and removes the
run's database, topics and Redis keys.`;

export class UsageError extends Error {}

const positiveInt = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
};

const intList = (name: string, text: string): number[] => {
  if (text === 'none' || text === '') return [];
  return text.split(',').map((part) => positiveInt(name, part.trim()));
};

export function parseBenchArgs(argv: string[]): BenchOptions {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        commands: { type: 'string' },
        workers: { type: 'string' },
        rates: { type: 'string' },
        'rate-seconds': { type: 'string' },
        'warmup-seconds': { type: 'string' },
        'drain-seconds': { type: 'string' },
        'latency-workers': { type: 'string' },
        partitions: { type: 'string' },
        environments: { type: 'string' },
        'baseline-commands': { type: 'string' },
        'pg-concurrency': { type: 'string' },
        'group-size': { type: 'string' },
        'warmup-commands': { type: 'string' },
        'skip-baselines': { type: 'boolean', default: false },
        'private-broker': { type: 'boolean', default: false },
        quick: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  // --private-broker takes an optional port: a number right after it.
  const brokerPortText = values['private-broker'] ? argv[argv.indexOf('--private-broker') + 1] : undefined;
  const brokerPort = brokerPortText !== undefined && /^\d+$/.test(brokerPortText) ? positiveInt('private-broker', brokerPortText) : 29292;
  const stray = positionals.filter((p) => p !== brokerPortText);
  if (stray.length) throw new UsageError(`unexpected argument ${JSON.stringify(stray[0])}`);
  if (values['private-broker'] && (brokerPort === 9092 || brokerPort >= 32768)) throw new UsageError('--private-broker needs a port other than 9092 and below 32768 (the ephemeral range)');
  const quick = values.quick!;
  const int = (name: keyof typeof values, fallback: number) => (values[name] === undefined ? fallback : positiveInt(name, values[name] as string));
  const commands = int('commands', quick ? 2000 : 20_000);
  const workers = values.workers === undefined ? (quick ? [1, 2] : [1, 2, 3]) : intList('workers', values.workers);
  if (!workers.length) throw new UsageError('--workers needs at least one worker count');
  const partitions = int('partitions', Math.max(6, ...workers));
  if (partitions < Math.max(...workers)) throw new UsageError(`--partitions ${partitions} is fewer than the largest worker count ${Math.max(...workers)}: a worker would get no partition`);
  const environments = int('environments', Math.max(12, partitions));
  if (environments < partitions) throw new UsageError(`--environments ${environments} is fewer than --partitions ${partitions}: a partition would get no key`);
  const latencyWorkers = int('latency-workers', workers[0]!);
  const rates = values.rates === undefined ? (quick ? [200, 500] : [200, 500, 800]) : intList('rates', values.rates);
  if (rates.length && !workers.includes(latencyWorkers)) throw new UsageError(`--latency-workers ${latencyWorkers} is not one of --workers ${workers.join(',')}`);
  return {
    commands,
    workers,
    rates,
    rateSeconds: int('rate-seconds', quick ? 3 : 20),
    warmupSeconds: values['warmup-seconds'] === '0' ? 0 : int('warmup-seconds', quick ? 1 : 2),
    drainSeconds: int('drain-seconds', 60),
    latencyWorkers,
    partitions,
    environments,
    baselineCommands: int('baseline-commands', commands),
    pgConcurrency: int('pg-concurrency', 6),
    groupSize: int('group-size', 32),
    warmupCommands: values['warmup-commands'] === '0' ? 0 : int('warmup-commands', quick ? 200 : 1000),
    skipBaselines: values['skip-baselines']!,
    ...(values['private-broker'] ? { privateBrokerPort: brokerPort } : {}),
    quick,
    help: values.help!,
  };
}
