// Results benchmark (`npm run bench:results`, i.e. `tsx bench/results.ts`).
//
//  1. Tracking ingest: BENCH_INGEST_EVENTS (default 500,000) tracking events are produced to a fresh topic
//     (3 partitions), then the real tracking consumer (src/transport/tracking-consumer.ts) is started on it and
//     timed from its first stored batch to the last: events/s through Kafka into Postgres.
//  2. Results compute: for each of BENCH_SIZES (default 100000,1000000) exposed identities, a dedicated
//     environment, feature, four metrics and a running experiment are written with SQL, and ~10 tracking events
//     per identity generated with generate_series (not through Kafka). Then computeResults (the results query +
//     analyzeExperiment + the write) is timed: twice as the worker runs it (RESULTS_QUERY_PARTS parts at once),
//     once in a single part; EXPLAIN (ANALYZE, BUFFERS) of one part goes into the JSON.
//
// It uses its own database, RESULTS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/experimentation_results_bench),
// created and migrated on first use, and prints a table; the numbers go to bench/results/results-<time>.json.
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { createMetrics } from '../src/metrics.js';
import { createKnex, ensureDatabase, migrateLatest } from '../src/db.js';
import { createKafka, ensureTopics } from '../src/transport/kafka.js';
import { startTrackingConsumer } from '../src/transport/tracking-consumer.js';
import { computeResults } from '../src/results/compute-results.js';
import { buildResultsQuery, loadResultsSubject, RESULTS_QUERY_PARTS, RESULTS_SESSION_SETTINGS } from '../src/results/results-query.js';
import { PartitionManager, dayStart } from '../src/results/tracking-store.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: npm run bench:results

Needs the local stack (npm run stack up). Measures:
  1. tracking ingest through Kafka into Postgres (BENCH_INGEST_EVENTS events, default 500000);
  2. results compute time for BENCH_SIZES exposed identities (default 100000,1000000), ~10 events each.
Uses its own database (RESULTS_BENCH_DATABASE_URL, default .../experimentation_results_bench).
Prints tables and writes bench/results/results-<time>.json. The 1M run takes a few minutes.`);
  process.exit(0);
}

const DAY = 86_400_000;
const databaseUrl = process.env.RESULTS_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/experimentation_results_bench?application_name=results-bench';
const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const ingestEvents = Number(process.env.BENCH_INGEST_EVENTS ?? 500_000);
const sizes = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map(Number).filter((n) => n > 0);
const skipIngest = process.env.BENCH_SKIP_INGEST === '1';
const outDir = fileURLToPath(new URL('./results/', import.meta.url));
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench');
const config = loadConfig({
  DATABASE_URL: databaseUrl,
  KAFKA_BROKERS: brokers,
  COMMAND_KEYS: 'bench:bench:system',
  TRACKING_TOPIC: `bench.${randomUUID().slice(0, 8)}.tracking`,
  TRACKING_CONSUMER_GROUP: `bench.${randomUUID().slice(0, 8)}.tracking`,
  TRACKING_DLQ_TOPIC: 'bench.tracking.dlq',
  EVENTS_TOPIC: 'bench.events',
  LOG_LEVEL: 'warn',
});

interface Tenant {
  environmentId: number;
  environmentKey: string;
  featureId: number;
  featureName: string;
}

let nextId = Math.floor(Date.now() / 1000) * 100;

async function createTenant(knex: Knex, label: string): Promise<Tenant> {
  const id = nextId++;
  await knex('organisations').insert({ id, name: `bench ${label}`, experimentation_enabled: true });
  await knex('projects').insert({ id, organisation_id: id, name: `bench ${label}` });
  const environmentKey = `bench-${label}-${randomUUID().slice(0, 8)}`;
  const [env] = await knex('environments').insert({ key: environmentKey, project_id: id, name: label }).returning('id');
  const featureName = `bench_feature_${id}`;
  await knex('features').insert({ id, project_id: id, name: featureName, type: 'MULTIVARIATE', variants: JSON.stringify([{ key: 'variant_a', percentageAllocation: 50 }]) });
  return { environmentId: Number(env.id), environmentKey, featureId: id, featureName };
}

// ---------------------------------------------------------------------------------------------------------------
async function benchIngest(knex: Knex) {
  const tenant = await createTenant(knex, 'ingest');
  const kafka = createKafka(config.KAFKA_BROKERS, logger, 'bench');
  await ensureTopics(kafka, [{ topic: config.TRACKING_TOPIC, numPartitions: 3 }, { topic: config.TRACKING_DLQ_TOPIC, numPartitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  const now = Date.now();
  const produceStart = performance.now();
  const chunk = 10_000;
  for (let sent = 0; sent < ingestEvents; sent += chunk) {
    const messages = [];
    for (let i = sent; i < Math.min(ingestEvents, sent + chunk); i++) {
      const exposure = i % 10 === 0;
      messages.push({
        key: `u${i % 50_000}`,
        value: JSON.stringify(
          exposure
            ? { environment: tenant.environmentKey, event: '$flag_exposure', identifier: `user-${i % 50_000}`, feature: tenant.featureName, value: i % 20 === 0 ? 'control' : 'variant_a', timestamp: new Date(now - (i % 7200) * 1000).toISOString() }
            : { environment: tenant.environmentKey, event: i % 3 === 0 ? 'purchase' : 'page_view', identifier: `user-${i % 50_000}`, value: i % 3 === 0 ? (i % 97) + 0.5 : undefined, timestamp: new Date(now - (i % 7200) * 1000).toISOString() },
        ),
      });
    }
    await producer.send({ topic: config.TRACKING_TOPIC, messages });
  }
  const produceSeconds = (performance.now() - produceStart) / 1000;
  await producer.disconnect();

  const metrics = createMetrics();
  let stopping = false;
  const consumerProducer = kafka.producer();
  await consumerProducer.connect();
  const started = performance.now();
  const consumer = await startTrackingConsumer({ kafka, knex, producer: consumerProducer, config, logger, metrics, isStopping: () => stopping });
  let first: number | undefined;
  let firstCount = 0;
  for (;;) {
    const stored = (await metrics.trackingAccepted.get()).values[0]?.value ?? 0;
    if (stored > 0 && first === undefined) {
      first = performance.now();
      firstCount = stored;
    }
    if (stored >= ingestEvents) break;
    if (performance.now() - started > 600_000) throw new Error(`ingest stalled at ${stored}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const done = performance.now();
  stopping = true;
  await consumer.disconnect();
  await consumerProducer.disconnect();
  const { n } = (await knex('tracking_events').where('environment_id', tenant.environmentId).count({ n: '*' }).first()) as { n: number };
  if (Number(n) !== ingestEvents) throw new Error(`stored ${n}, expected ${ingestEvents}`);
  const steadySeconds = (done - first!) / 1000;
  return {
    events: ingestEvents,
    produceSeconds: round(produceSeconds),
    consumerStartToDoneSeconds: round((done - started) / 1000),
    steadySeconds: round(steadySeconds),
    eventsPerSecond: Math.round((ingestEvents - firstCount) / steadySeconds),
    eventsPerSecondIncludingGroupJoin: Math.round(ingestEvents / ((done - started) / 1000)),
  };
}

// ---------------------------------------------------------------------------------------------------------------
async function generate(knex: Knex, size: number) {
  const tenant = await createTenant(knex, `compute-${size}`);
  const now = Date.now();
  const startedAt = new Date(now - 7 * DAY);
  const metricIds: number[] = [];
  for (const [name, aggregation, event] of [
    ['Conversion', 'occurrence', 'purchase'],
    ['Revenue', 'sum', 'purchase'],
    ['Order value', 'mean', 'purchase'],
    ['Page views', 'count', 'page_view'],
  ] as const) {
    const [m] = await knex('metrics').insert({ environment_id: tenant.environmentId, name, aggregation, direction: 'up', definition: JSON.stringify({ version: 1, event }) }).returning('id');
    metricIds.push(Number(m.id));
  }
  const [x] = await knex('experiments')
    .insert({ environment_id: tenant.environmentId, feature_id: tenant.featureId, name: `bench ${size}`, status: 'running', started_at: startedAt })
    .returning('id');
  const experimentId = Number(x.id);
  await knex('experiment_metrics').insert(metricIds.map((metric_id) => ({ experiment_id: experimentId, metric_id, expected_direction: 'increase' })));

  const partitions = new PartitionManager(knex);
  const days: number[] = [];
  for (let d = dayStart(startedAt.getTime() - 15 * DAY); d <= dayStart(now); d += DAY) days.push(d);
  await partitions.ensure(days);

  const t0 = performance.now();
  const bind = { env: tenant.environmentId, feature: tenant.featureName, n: size, start: startedAt.toISOString() };
  await knex.raw('select setseed(0.42)');
  // Exposures: identity i first exposed within the first 5 days; 10 % exposed again later; 0.5 % (i % 200 = 1)
  // also exposed to the other variant (left out by the query).
  await knex.raw(
    `insert into tracking_events (environment_id, occurred_at, identity_key, value_num, event, identifier, feature, value_text)
     select cast(:env as bigint), occurred_at, hashtextextended(identifier, 0), null, '$flag_exposure', identifier, :feature, variant
       from (select 'user-' || i as identifier, case when i % 2 = 0 then 'control' else 'variant_a' end as variant,
                    cast(:start as timestamptz) + (i % 432000) * interval '1 second' as occurred_at
               from generate_series(1, cast(:n as int)) i
             union all
             select 'user-' || i, case when i % 2 = 0 then 'control' else 'variant_a' end,
                    cast(:start as timestamptz) + (i % 432000 + 7200) * interval '1 second'
               from generate_series(1, cast(:n as int)) i where i % 10 = 0
             union all
             select 'user-' || i, case when i % 2 = 0 then 'variant_a' else 'control' end,
                    cast(:start as timestamptz) + (i % 432000 + 60) * interval '1 second'
               from generate_series(1, cast(:n as int)) i where i % 200 = 1) x`,
    bind,
  );
  // 10 events per identity: k = 1..8 in the 8 hours after its first exposure (each a purchase with probability
  // 0.3 in control, 0.33 in variant_a, else a page view), k = 9..10 in the 10 days before it (pre-exposure, CUPED;
  // a purchase with probability 0.3).
  await knex.raw(
    `insert into tracking_events (environment_id, occurred_at, identity_key, value_num, event, identifier, feature, value_text)
     select cast(:env as bigint),
            case when k <= 8 then first_at + (k * 3600 - random() * 3500) * interval '1 second'
                 else first_at - (1 + random() * 863000) * interval '1 second' end,
            hashtextextended('user-' || i, 0),
            case when event = 'purchase' then round((5 + random() * 95)::numeric, 2)::float8 end,
            event, 'user-' || i, null, null
       from (select i, k, cast(:start as timestamptz) + (i % 432000) * interval '1 second' as first_at,
                    case when random() < (case when k > 8 then 0.3 when i % 2 = 0 then 0.3 else 0.33 end) then 'purchase' else 'page_view' end as event
               from generate_series(1, cast(:n as int)) i cross join generate_series(1, 10) k) g`,
    bind,
  );
  const generateSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  await knex.raw('vacuum analyze tracking_events');
  const vacuumSeconds = (performance.now() - t1) / 1000;
  const { n } = (await knex('tracking_events').where('environment_id', tenant.environmentId).count({ n: '*' }).first()) as { n: number };
  return { tenant, experimentId, rows: Number(n), generateSeconds: round(generateSeconds), vacuumAnalyzeSeconds: round(vacuumSeconds) };
}

async function benchCompute(knex: Knex, size: number) {
  const generated = await generate(knex, size);
  const deps = { knex, config, logger };
  const runs = [];
  // Twice as the worker runs it (the query in RESULTS_QUERY_PARTS parts at once), then in a single part.
  for (const [run, parts] of [['first', RESULTS_QUERY_PARTS], ['second', RESULTS_QUERY_PARTS], ['one part', 1]] as const) {
    const t = performance.now();
    const outcome = await computeResults(deps, generated.experimentId, new Date(), { parts });
    if (outcome.kind !== 'computed') throw new Error(`compute ${outcome.kind}`);
    runs.push({ run, parts, totalMs: Math.round(performance.now() - t), queryMs: Math.round(outcome.timings.queryMs), statsMs: round(outcome.timings.statsMs), exposures: (outcome.view.payload as { exposures: Record<string, number> }).exposures });
  }
  const subject = (await loadResultsSubject(knex, generated.experimentId))!;
  const window = { from: subject.startedAt!, to: new Date() };
  const plan = await knex.transaction(async (trx) => {
    await trx.raw(RESULTS_SESSION_SETTINGS);
    // One part of the query as the worker runs it, alone (the other part runs at the same time in the worker).
    const { sql, bindings } = buildResultsQuery(subject, window, config.CUPED_LOOKBACK_DAYS, RESULTS_QUERY_PARTS);
    const { rows } = await trx.raw<{ rows: { 'QUERY PLAN': string }[] }>(`explain (analyze, buffers) ${sql}`, bindings);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
  return { size, ...generated, tenant: undefined, runs, explainOnePart: plan.split('\n') };
}

const round = (x: number) => Math.round(x * 100) / 100;

async function main() {
  await ensureDatabase(databaseUrl);
  const knex = createKnex(databaseUrl, 8);
  await migrateLatest(knex);
  const report: Record<string, unknown> = { at: new Date().toISOString(), machine: { cpus: (await import('node:os')).cpus().length }, database: databaseUrl.replace(/\/\/[^@]*@/, '//').replace(/\?.*/, '') };
  try {
    if (!skipIngest) {
      const ingest = await benchIngest(knex);
      report.ingest = ingest;
      console.log('\nTracking ingest (Kafka → tracking consumer → Postgres)');
      console.table([ingest]);
    }
    const computes = [];
    for (const size of sizes) {
      const result = await benchCompute(knex, size);
      computes.push(result);
      console.log(`\nResults compute, ${size.toLocaleString('en')} exposed identities (${result.rows.toLocaleString('en')} tracking rows)`);
      console.table(result.runs.map((r) => ({ run: r.run, parts: r.parts, totalMs: r.totalMs, queryMs: r.queryMs, statsMs: r.statsMs, exposures: JSON.stringify(r.exposures) })));
    }
    report.compute = computes;
  } finally {
    await knex.destroy();
  }
  mkdirSync(outDir, { recursive: true });
  const file = `${outDir}results-${new Date().toISOString().replaceAll(':', '-').slice(0, 19)}.json`;
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`\nwritten ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
