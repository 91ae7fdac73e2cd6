import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { PrivateBroker } from '../../test/integration/chaos/private-broker.js';
import { HELP, parseBenchArgs, UsageError, type BenchOptions } from './args.js';
import { echoBaseline } from './echo-baseline.js';
import { benchKafka, createTopics, ReplyCollector, type SigningKey } from './kafka-io.js';
import { measureLatency } from './latency.js';
import { groupedWithSavepoints, oneTransactionPerCommand } from './postgres-baselines.js';
import { benchCpuSeconds, findBrokerPid, postgresCpuSeconds, processCpuSeconds, redisCpuSeconds, snapshot, usageBetween, type CpuSources, type CpuUsage } from './proc-stats.js';
import { ratios, renderTables, scaleOutVerdict, targets, type Baselines, type FleetResult } from './report.js';
import { Cleanup, createDatabase, deleteKafkaObjects, deleteRedisKeys, runNames } from './run-resources.js';
import { benchTenants, metricCreate, sendAndAwait, upsertTenants, type Tenants, type Wire } from './tenants.js';
import { measureThroughput } from './throughput.js';
import { WorkerFleet } from './worker-fleet.js';

// `npm run bench`: see HELP in args.ts. Phases run one after another; every figure lands in the JSON file.

let options: BenchOptions;
try {
  options = parseBenchArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${error.message}\n(npm run bench -- --help lists the options)`);
  process.exit(2);
}
if (options.help) {
  console.log(HELP);
  process.exit(0);
}

const log = (message: string) => console.log(`[bench] ${new Date().toISOString().slice(11, 19)} ${message}`);
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
const logDir = join('bench/results', `pipeline-${stamp}-logs`);
const run = randomUUID().slice(0, 8);
const workerDir = resolve(process.env.BENCH_WORKER_DIR ?? '.');
const serverUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const privateBroker = options.privateBrokerPort ? new PrivateBroker(options.privateBrokerPort, options.privateBrokerPort + 1, resolve('.run/kafka-bench')) : undefined;
const brokers = privateBroker?.address ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const names = runNames(run, serverUrl);
const kafka = benchKafka(brokers.split(','), `bench-${run}`);
const admin = kafka.admin();
const cleanup = new Cleanup();
const key: SigningKey = { keyId: 'bench', secret: `bench-${randomUUID()}` };

// Ctrl-C reaches this process twice (from the terminal, and relayed by the tsx launcher): only a signal
// more than 2 s after the first one skips the clean-up.
let interrupted = 0;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) {
      if (Date.now() - interrupted > 2000) process.exit(130);
      return;
    }
    interrupted = Date.now();
    log(`${signal}: stopping the workers and removing the run's database, topics and Redis keys`);
    void cleanup.runAll(log).finally(() => process.exit(130));
  });
}

function workerEnv(label: string): Record<string, string> {
  const prefix = `${names.kafkaPrefix}${label}.`;
  return {
    KAFKA_BROKERS: brokers,
    DATABASE_URL: names.databaseUrl,
    REDIS_URL: redisUrl,
    COMMAND_KEYS: `${key.keyId}:${key.secret}:system`,
    COMMANDS_TOPIC: `${prefix}commands`,
    EVENTS_TOPIC: `${prefix}events`,
    REPLIES_TOPIC: `${prefix}replies`,
    TRACKING_TOPIC: `${prefix}tracking`,
    DLQ_TOPIC: `${prefix}dlq`,
    TRACKING_DLQ_TOPIC: `${prefix}tracking.dlq`,
    CONSUMER_GROUP: `${prefix}worker`,
    TRACKING_CONSUMER_GROUP: `${prefix}tracking`,
    COMMANDS_PARTITIONS: String(options.partitions),
    QUEUE_PREFIX: `${names.redisPrefix}${label}`,
    LOG_LEVEL: 'warn',
  };
}

let brokerPid: number | undefined;
function cpuSources(fleet?: WorkerFleet, extra: CpuSources = {}): CpuSources {
  return {
    ...(fleet ? { workers: fleet.cpuSeconds } : {}),
    broker: () => (brokerPid ? processCpuSeconds(brokerPid) : NaN),
    postgres: () => postgresCpuSeconds().all,
    postgresBenchDatabase: () => postgresCpuSeconds(names.database).database,
    redis: redisCpuSeconds,
    loadGenerator: benchCpuSeconds,
    ...extra,
  };
}
async function measured<T>(sources: CpuSources, work: () => Promise<T>): Promise<T & { cpu: CpuUsage }> {
  const before = snapshot(sources);
  const result = await work();
  return { ...result, cpu: usageBetween(before, snapshot(sources)) };
}

let commandCounter = 0;
async function runFleet(count: number, tenants: Tenants, firstHttpPort: number): Promise<FleetResult> {
  const label = `w${count}`;
  const env = workerEnv(label);
  await createTopics(admin, [
    { topic: env.COMMANDS_TOPIC!, numPartitions: options.partitions },
    { topic: env.REPLIES_TOPIC!, numPartitions: 3 },
  ]);
  const collector = new ReplyCollector(kafka, env.REPLIES_TOPIC!, `${names.kafkaPrefix}${label}.reader`);
  await collector.start();
  const producer = kafka.producer();
  await producer.connect();
  cleanup.add(`disconnecting the ${label} clients`, async () => void (await Promise.allSettled([producer.disconnect(), collector.stop()])));
  const wire: Wire = { producer, collector, commandsTopic: env.COMMANDS_TOPIC!, key };
  log(`${count} worker(s): starting`);
  const fleet = WorkerFleet.start({ label, count, partitions: options.partitions, env, firstHttpPort, logDir, nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), workerDir });
  cleanup.add(`stopping the ${label} workers`, () => fleet.stop());
  const assignment = await fleet.waitReady(admin);
  await upsertTenants(wire, tenants);
  log(`${count} worker(s): ready (partitions ${assignment.map((p) => p.join(',')).join(' | ')}, each answered a probe); warm-up ${options.warmupCommands} commands`);
  if (options.warmupCommands) {
    await sendAndAwait(wire, Array.from({ length: options.warmupCommands }, () => metricCreate(tenants, commandCounter++)), [201], 300_000);
  }
  log(`${count} worker(s): throughput, ${options.commands} commands at once`);
  const progress = (message: string) => log(`  ${message}`);
  const sources = cpuSources(fleet);
  const { cpu, ...throughput } = await measured(sources, () => measureThroughput(wire, tenants, options.commands, commandCounter, progress));
  commandCounter += options.commands;
  log(`  ${throughput.perSecond.toFixed(0)} commands/s (${throughput.seconds.toFixed(2)} s, ${throughput.errors} not 201)`);
  const result: FleetResult = { workers: count, assignment, throughput, cpu, peakRssBytes: [], rebalancedDuring: [] };
  const checkGroup = async (phase: string) => {
    if (await fleet.sameGroupAsReady(admin)) return;
    result.rebalancedDuring.push(phase);
    log(`  warning: the consumer group rebalanced during ${phase} (a worker was dropped and rejoined): its figures include the stall`);
  };
  await checkGroup('throughput');
  if (count === options.latencyWorkers && options.rates.length) {
    result.latency = [];
    for (const rate of options.rates) {
      const overloaded = result.latency.find((s) => s.unanswered > 0 && s.offeredRate <= rate);
      if (overloaded) {
        // Its queue had not drained: a higher rate would only start behind that backlog and measure it.
        log(`${count} worker(s): latency at ${rate}/s skipped: at ${overloaded.offeredRate}/s the queue did not drain within ${options.drainSeconds} s`);
        result.latencySkipped = [...(result.latencySkipped ?? []), rate];
        continue;
      }
      log(`${count} worker(s): latency at ${rate}/s offered, ${options.warmupSeconds} s warm-up + ${options.rateSeconds} s`);
      const step = await measured(sources, () => measureLatency(wire, tenants, { rate, seconds: options.rateSeconds, warmupSeconds: options.warmupSeconds, drainSeconds: options.drainSeconds }, commandCounter, progress));
      commandCounter += step.commandsSent;
      await checkGroup(`latency at ${rate}/s`);
      log(`  achieved ${step.achievedRate.toFixed(0)}/s, p50 ${step.p50Ms.toFixed(1)} ms, p95 ${step.p95Ms.toFixed(1)} ms, p99 ${step.p99Ms.toFixed(1)} ms, ${step.unanswered} unanswered`);
      result.latency.push(step);
    }
  }
  result.peakRssBytes = fleet.peakRss();
  await fleet.stop();
  await Promise.allSettled([producer.disconnect(), collector.stop()]);
  return result;
}

async function main(): Promise<void> {
  mkdirSync(logDir, { recursive: true });
  if (privateBroker) {
    log(`starting a broker of this run's own on ${privateBroker.address}`);
    cleanup.add(`stopping the broker on ${privateBroker.address}`, () => privateBroker.stop());
    await privateBroker.start();
  }
  brokerPid = findBrokerPid(Number(brokers.split(',')[0]!.split(':')[1]), privateBroker ? resolve('.run/kafka-bench') : (process.env.KAFKA_RUN_DIR ?? '.run/kafka'));
  log(`run ${run}: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; broker ${brokers} (pid ${brokerPid ?? 'not found: its CPU is not measured'}); worker from ${workerDir}; logs in ${logDir}`);
  await admin.connect();
  cleanup.add('disconnecting the admin client', () => admin.disconnect());
  cleanup.add(`removing Redis keys ${names.redisPrefix}*`, async () => void (await deleteRedisKeys(redisUrl, names.redisPrefix)));
  cleanup.add(`removing topics and groups ${names.kafkaPrefix}*`, () => deleteKafkaObjects(admin, names.kafkaPrefix));
  await createDatabase(names, cleanup, serverUrl, join(logDir, 'migrate.log'), workerDir);
  const tenants = benchTenants(run, options.environments, options.partitions, { organisationId: randomInt(1e6, 2e9), projectId: randomInt(1e6, 2e9) });
  const firstHttpPort = randomInt(20_000, 40_000);
  const fleets: FleetResult[] = [];
  for (const count of options.workers) fleets.push(await runFleet(count, tenants, firstHttpPort));

  const baselines: Baselines = {};
  if (!options.skipBaselines) {
    const n = options.baselineCommands;
    const keys = tenants.environments.map((e) => e.key);
    log(`baseline: kafkajs echo, ${n} messages`);
    baselines.kafkajsEcho = await measured(cpuSources(), () => echoBaseline({ kafka, admin, brokers, prefix: names.kafkaPrefix, partitions: options.partitions, concurrency: 6, logDir }, n));
    log(`  ${baselines.kafkajsEcho.perSecond.toFixed(0)} messages/s`);
    log(`baseline: Postgres alone, one transaction per command, ${n} commands on ${options.pgConcurrency} connections`);
    baselines.postgresOneTransactionPerCommand = await measured(cpuSources(), () => oneTransactionPerCommand(names.databaseUrl, keys, n, options.pgConcurrency));
    log(`  ${baselines.postgresOneTransactionPerCommand.perSecond.toFixed(0)} commands/s`);
    log(`baseline: Postgres alone, the worker's writes, ${options.groupSize} commands per transaction with savepoints, ${n} commands on ${options.pgConcurrency} connections`);
    baselines.postgresLimit = await measured(cpuSources(), () => groupedWithSavepoints(names.databaseUrl, keys, n, options.pgConcurrency, options.groupSize));
    log(`  ${baselines.postgresLimit.perSecond.toFixed(0)} commands/s`);
  }

  const verdict = options.workers.length > 1 ? scaleOutVerdict(fleets) : '';
  const one = fleets[0];
  const best = fleets.reduce((a, b) => (b.throughput.perSecond > a.throughput.perSecond ? b : a), fleets[0]!);
  const result = {
    at: startedAt.toISOString(),
    run,
    machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, brokers, brokerPid: brokerPid ?? null, workerDir },
    options,
    fleets,
    baselines,
    ratios: { [`${one!.workers}Worker`]: ratios(one!.throughput.perSecond, baselines), [`best${best.workers}Workers`]: ratios(best.throughput.perSecond, baselines) },
    targets: targets(one, baselines),
    scaleOut: verdict,
  };
  console.log(`\n${renderTables(fleets, baselines, verdict)}\n`);
  const file = `bench/results/pipeline-${stamp}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  log(`wrote ${file}`);
}

// Once interrupted, the signal handler owns the clean-up and the exit; what main then throws is its doing.
main()
  .then(async () => {
    if (interrupted) return;
    await cleanup.runAll(log);
    process.exit(0);
  })
  .catch(async (error: unknown) => {
    if (interrupted) return;
    console.error(error);
    await cleanup.runAll(log);
    process.exit(1);
  });
