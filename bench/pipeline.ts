import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import { ExperimentationClient, sign } from '../src/client/index.js';
import { loadConfig } from '../src/config.js';
import { createKnex, ensureDatabase, migrateLatest } from '../src/db.js';
import { createKafka, ensureTopics, workerTopics } from '../src/transport/kafka.js';
import { createLogger } from '../src/logger.js';

// `npm run bench`: end-to-end command throughput and latency of the worker, with two baselines measured in
// the same run on the same machine. Prints a table and writes JSON under bench/results/.

const { values: args } = parseArgs({
  options: {
    commands: { type: 'string', default: '20000' },
    rate: { type: 'string', default: '500' },
    'rate-seconds': { type: 'string', default: '20' },
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`Usage: npm run bench [-- --commands N --rate R --rate-seconds S]

Needs the local stack (npm run stack up). Runs, in one process tree:
  1. throughput: N metric.create commands (default 20000) sent at once, first send → last reply;
  2. latency: R commands/s (default 500) for S seconds (default 20), p50/p95/p99 send → reply;
  3. baseline "kafkajs echo": consume → produce, no database (N messages);
  4. baseline "postgres alone": each command's writes as one transaction, same concurrency (N commands).
--workers W runs W worker processes in one consumer group (default 1).
Results: a table on stdout and bench/results/pipeline-<timestamp>.json.`);
  process.exit(0);
}
const N = Number(args.commands);
const RATE = Number(args.rate);
const RATE_SECONDS = Number(args['rate-seconds']);
const WORKERS = Number(args.workers);

const logger = createLogger('warn');
const log = (message: string) => console.log(`[bench] ${new Date().toISOString().slice(11, 19)} ${message}`);
const run = randomUUID().slice(0, 8);
const databaseUrl = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/experimentation_bench';
const keys = { keyId: 'bench', secret: `bench-${run}` };
const env: Record<string, string> = {
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  DATABASE_URL: databaseUrl,
  REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  COMMAND_KEYS: `${keys.keyId}:${keys.secret}:system`,
  COMMANDS_TOPIC: `bench.${run}.commands`,
  EVENTS_TOPIC: `bench.${run}.events`,
  REPLIES_TOPIC: `bench.${run}.replies`,
  TRACKING_TOPIC: `bench.${run}.tracking`,
  DLQ_TOPIC: `bench.${run}.dlq`,
  CONSUMER_GROUP: `bench.${run}.worker`,
  TRACKING_CONSUMER_GROUP: `bench.${run}.tracking`,
  QUEUE_PREFIX: `bench-${run}`,
  HTTP_PORT: String(randomInt(20000, 40000)),
  LOG_LEVEL: 'warn',
};
const config = loadConfig(env);
const kafka = createKafka(config.KAFKA_BROKERS, logger, 'bench');

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function spawnChild(args: string[], extraEnv: Record<string, string>): ChildProcess {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the children.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], { env: { ...process.env, ...extraEnv }, stdio: ['ignore', 'pipe', 'inherit'] });
  return child;
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Commands are spread over this many environments (message keys), as many services' would be. */
const ENVIRONMENTS = 12;

async function setupTenants(client: ExperimentationClient): Promise<string[]> {
  const org = randomInt(1e6, 2e9);
  const project = randomInt(1e6, 2e9);
  const environments = Array.from({ length: ENVIRONMENTS }, (_, i) => `bench-env-${run}-${i}`);
  for (const [type, payload] of [
    ['organisation.upsert', { id: org, name: 'Bench', experimentationEnabled: true }],
    ['project.upsert', { id: project, organisationId: org, name: 'Bench' }],
    ...environments.map((key) => ['environment.upsert', { key, projectId: project, name: 'Bench' }] as const),
  ] as const) {
    const reply = await client.send({ type, payload });
    if (reply.status !== 200) throw new Error(`${type}: ${reply.status} ${JSON.stringify(reply.body)}`);
  }
  return environments;
}

const metricCommand = (environments: string[], i: number) => ({
  type: 'metric.create',
  environment: environments[i % environments.length]!,
  payload: { name: `Metric ${i}`, aggregation: 'occurrence', definition: { version: 1, event: `event_${i % 50}` } },
});

async function throughputOfWorker(client: ExperimentationClient, environments: string[]): Promise<{ seconds: number; perSecond: number; errors: number }> {
  const envelopes = Array.from({ length: N }, (_, i) => client.envelope(metricCommand(environments, i)));
  const replies = envelopes.map((e) => client.waitForReply(e.id, 600_000));
  const producer = kafka.producer();
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < envelopes.length; i += 1000) {
    await producer.send({
      topic: config.COMMANDS_TOPIC,
      messages: envelopes.slice(i, i + 1000).map((e) => {
        const value = Buffer.from(JSON.stringify(e));
        return { key: e.environment as string, value, headers: { 'x-key-id': keys.keyId, 'x-signature': sign(value, keys.secret) } };
      }),
    });
  }
  let done = 0;
  const all = await Promise.all(
    replies.map((p) =>
      p.then((r) => {
        if (++done % 5000 === 0) log(`  ${done}/${N} replies`);
        return r;
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return { seconds, perSecond: N / seconds, errors: all.filter((r) => r.status !== 201).length };
}

async function latencyAtRate(client: ExperimentationClient, environments: string[]): Promise<{ sent: number; p50: number; p95: number; p99: number; max: number; achievedRate: number }> {
  const total = RATE * RATE_SECONDS;
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const sentAt = performance.now();
    pending.push(client.send(metricCommand(environments, i), { timeout: 120_000 }).then(() => void latencies.push(performance.now() - sentAt)));
  }
  const sendSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { sent: total, p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99), max: latencies.at(-1)!, achievedRate: total / sendSeconds };
}

async function echoBaseline(): Promise<{ seconds: number; perSecond: number }> {
  const inTopic = `bench.${run}.echo-in`;
  const outTopic = `bench.${run}.echo-out`;
  await ensureTopics(kafka, [
    { topic: inTopic, numPartitions: config.COMMANDS_PARTITIONS },
    { topic: outTopic, numPartitions: config.TOPIC_PARTITIONS },
  ]);
  const child = spawnChild(['bench/echo-worker.ts', config.KAFKA_BROKERS.join(','), inTopic, outTopic, `bench.${run}.echo`, String(config.PARTITIONS_CONSUMED_CONCURRENTLY)], {});
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  const consumer = kafka.consumer({ groupId: `bench.${run}.echo-reader`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: outTopic, fromBeginning: true });
  let received = 0;
  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  await consumer.run({ eachBatch: async ({ batch }) => { received += batch.messages.length; if (received >= N) finish(); } });
  const producer = kafka.producer();
  await producer.connect();
  const bodies = Array.from({ length: N }, (_, i) => JSON.stringify({ id: randomUUID(), ...metricCommand(['bench'], i) }));
  const started = performance.now();
  for (let i = 0; i < N; i += 1000) {
    await producer.send({ topic: inTopic, messages: bodies.slice(i, i + 1000).map((value, j) => ({ key: `k${(i + j) % 12}`, value })) });
  }
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await consumer.disconnect();
  await stopChild(child);
  return { seconds, perSecond: N / seconds };
}

/** Each command's writes (metric, audit, outbox, inbox) as one transaction, at the worker's concurrency. */
async function postgresBaseline(knex: Knex, environments: string[]): Promise<{ seconds: number; perSecond: number }> {
  const envs = await knex('environments').whereIn('key', environments).orderBy('key');
  let next = 0;
  const started = performance.now();
  const lanes = Array.from({ length: config.PARTITIONS_CONSUMED_CONCURRENTLY }, async () => {
    while (next < N) {
      const i = next++;
      const env = envs[i % envs.length];
      const environment = env.key as string;
      const commandId = randomUUID();
      await knex.transaction(async (trx) => {
        const [metric] = await trx('metrics')
          .insert({ environment_id: env.id, name: `Baseline ${i}`, aggregation: 'occurrence', direction: 'up', definition: { version: 1, event: 'e' } })
          .returning('*');
        await trx('audit_log').insert({ command_id: commandId, environment_key: environment, actor_type: 'system', actor_id: 'bench', action: 'create', resource_type: 'metric', resource_id: String(metric.id), after: metric });
        await trx('outbox').insert({ topic: 'bench.baseline', message_key: environment, payload: { type: 'metric.created', data: metric }, published_at: new Date() });
        await trx('processed_commands').insert({ command_id: commandId, type: 'metric.create', environment_key: environment, status: 201, reply: { status: 201, body: metric } });
      });
    }
  });
  await Promise.all(lanes);
  const seconds = (performance.now() - started) / 1000;
  return { seconds, perSecond: N / seconds };
}

/** The worker's own view (expw_command_duration_seconds): where a command's time goes, inside vs around it. */
async function commandTimeFromMetrics(): Promise<{ meanMs: number; count: number }> {
  const text = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/metrics`).then((r) => r.text());
  const sum = Number(/^expw_command_duration_seconds_sum (\S+)/m.exec(text)?.[1] ?? NaN);
  const count = Number(/^expw_command_duration_seconds_count (\S+)/m.exec(text)?.[1] ?? NaN);
  return { meanMs: (sum / count) * 1000, count };
}

async function main(): Promise<void> {
  log(`machine: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  await ensureDatabase(databaseUrl);
  const knex = createKnex(databaseUrl, 10);
  await migrateLatest(knex);
  await ensureTopics(kafka, workerTopics(config));

  log(`starting ${WORKERS} worker process(es)`);
  const workers = Array.from({ length: WORKERS }, (_, i) => spawnChild(['src/main.ts'], { ...env, HTTP_PORT: String(Number(env.HTTP_PORT) + i) }));
  for (let i = 0; i < WORKERS; i++) {
    const port = Number(env.HTTP_PORT) + i;
    await waitFor(() => fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false), `worker ${i + 1} to be ready`);
  }
  const client = new ExperimentationClient({ kafka, ...keys, commandsTopic: config.COMMANDS_TOPIC, defaultActor: { type: 'system', id: 'bench' } });
  await client.connect();
  const environments = await setupTenants(client);

  log('warm-up: 1000 commands');
  await Promise.all(Array.from({ length: 1000 }, (_, i) => client.send(metricCommand(environments, i), { timeout: 120_000 })));

  log(`throughput: ${N} commands at once`);
  const throughput = await throughputOfWorker(client, environments);
  const inside = await commandTimeFromMetrics();
  log(`  mean time inside a command (read → reply built, from /metrics): ${inside.meanMs.toFixed(1)} ms over ${inside.count} commands`);
  log(`latency: ${RATE}/s for ${RATE_SECONDS} s`);
  const latency = await latencyAtRate(client, environments);
  await client.disconnect();
  await Promise.all(workers.map(stopChild));

  log(`baseline: kafkajs echo, ${N} messages`);
  const echo = await echoBaseline();
  log(`baseline: postgres alone, ${N} transactions`);
  const postgres = await postgresBaseline(knex, environments);
  await knex.destroy();

  const slower = Math.min(echo.perSecond, postgres.perSecond);
  const result = {
    at: new Date().toISOString(),
    machine: { cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version },
    commands: N,
    workerProcesses: WORKERS,
    worker: { throughput, meanMsInsideCommand: inside.meanMs, latency },
    baselines: { kafkajsEcho: echo, postgresAlone: postgres },
    ratios: { vsKafkajsEcho: throughput.perSecond / echo.perSecond, vsPostgresAlone: throughput.perSecond / postgres.perSecond, vsSlowerBaseline: throughput.perSecond / slower },
    targets: { throughputAtLeastHalfOfSlowerBaseline: throughput.perSecond >= 0.5 * slower, p99AtMost50ms: latency.p99 <= 50 },
  };
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log('');
  console.log('| measure                                   | value |');
  console.log('|-------------------------------------------|-------|');
  console.log(`| worker throughput (${N} commands)        | ${f(throughput.perSecond)} commands/s (${f(throughput.seconds, 2)} s, ${throughput.errors} errors) |`);
  console.log(`| worker latency at ${RATE}/s (achieved ${f(latency.achievedRate)}/s) | p50 ${f(latency.p50)} ms, p95 ${f(latency.p95)} ms, p99 ${f(latency.p99)} ms, max ${f(latency.max)} ms |`);
  console.log(`| baseline kafkajs echo                     | ${f(echo.perSecond)} messages/s |`);
  console.log(`| baseline postgres alone                   | ${f(postgres.perSecond)} transactions/s |`);
  console.log(`| ratio vs kafkajs echo                     | ${f(result.ratios.vsKafkajsEcho, 2)} |`);
  console.log(`| ratio vs postgres alone                   | ${f(result.ratios.vsPostgresAlone, 2)} |`);
  console.log(`| targets: ≥0.5× slower baseline / p99 ≤ 50 ms | ${result.targets.throughputAtLeastHalfOfSlowerBaseline ? 'met' : 'MISSED'} / ${result.targets.p99AtMost50ms ? 'met' : 'MISSED'} |`);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/pipeline-${result.at.replace(/[:.]/g, '-')}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  log(`wrote ${file}`);
  process.exit(0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
