// Data of the results benchmark (bench/results.ts): its own database and tenants, the generated dataset of one
// scale point, sizes of the tracking tables, and the process's peak RSS.
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Knex } from 'knex';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { PartitionManager, dayStart } from '../src/results/tracking-store.js';

export const DAY = 86_400_000;
export const databaseUrl =
  process.env.RESULTS_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/experimentation_results_bench?application_name=results-bench';
export const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench');
export const config = loadConfig({
  DATABASE_URL: databaseUrl,
  KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
  COMMAND_KEYS: 'bench:bench:system',
  TRACKING_TOPIC: `bench.${randomUUID().slice(0, 8)}.tracking`,
  TRACKING_CONSUMER_GROUP: `bench.${randomUUID().slice(0, 8)}.tracking`,
  TRACKING_DLQ_TOPIC: 'bench.tracking.dlq',
  EVENTS_TOPIC: 'bench.events',
  LOG_LEVEL: 'warn',
});

export const round = (x: number) => Math.round(x * 100) / 100;
export const progress = (message: string) => process.stderr.write(`[bench:results ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

export interface Tenant {
  environmentId: number;
  environmentKey: string;
  featureId: number;
  featureName: string;
}

let nextId = Math.floor(Date.now() / 1000) * 100;

export async function createTenant(knex: Knex, label: string): Promise<Tenant> {
  const id = nextId++;
  await knex('organisations').insert({ id, name: `bench ${label}`, experimentation_enabled: true });
  await knex('projects').insert({ id, organisation_id: id, name: `bench ${label}` });
  const environmentKey = `bench-${label}-${randomUUID().slice(0, 8)}`;
  const [env] = await knex('environments').insert({ key: environmentKey, project_id: id, name: label }).returning('id');
  const featureName = `bench_feature_${id}`;
  await knex('features').insert({ id, project_id: id, name: featureName, type: 'MULTIVARIATE', variants: JSON.stringify([{ key: 'variant_a', percentageAllocation: 50 }]) });
  return { environmentId: Number(env.id), environmentKey, featureId: id, featureName };
}

/** A running experiment on the tenant's feature, started at `startedAt`, with the benchmark's four metrics. */
export async function createExperiment(knex: Knex, tenant: Tenant, startedAt: Date, name: string): Promise<number> {
  const metricIds: number[] = [];
  for (const [metricName, aggregation, event] of [
    ['Conversion', 'occurrence', 'purchase'],
    ['Revenue', 'sum', 'purchase'],
    ['Order value', 'mean', 'purchase'],
    ['Page views', 'count', 'page_view'],
  ] as const) {
    const [m] = await knex('metrics').insert({ environment_id: tenant.environmentId, name: metricName, aggregation, direction: 'up', definition: JSON.stringify({ version: 1, event }) }).returning('id');
    metricIds.push(Number(m.id));
  }
  const [x] = await knex('experiments')
    .insert({ environment_id: tenant.environmentId, feature_id: tenant.featureId, name, status: 'running', started_at: startedAt })
    .returning('id');
  const experimentId = Number(x.id);
  await knex('experiment_metrics').insert(metricIds.map((metric_id) => ({ experiment_id: experimentId, metric_id, expected_direction: 'increase' })));
  return experimentId;
}

/**
 * One scale point: a tenant with four metrics and a running experiment started 7 days ago, `size` identities
 * exposed within its first 5 days (10 % exposed again later, 0.5 % to both variants) and 10 events each (8 in the
 * 8 hours after the first exposure, 2 in the 10 days before it), written with generate_series, then vacuumed
 * and analysed.
 */
export async function generate(knex: Knex, size: number) {
  const tenant = await createTenant(knex, `compute-${size}`);
  const now = Date.now();
  const startedAt = new Date(now - 7 * DAY);
  const experimentId = await createExperiment(knex, tenant, startedAt, `bench ${size}`);

  const days: number[] = [];
  for (let d = dayStart(startedAt.getTime() - 15 * DAY); d <= dayStart(now); d += DAY) days.push(d);
  await new PartitionManager(knex).ensure(days);

  const t0 = performance.now();
  const bind = { env: tenant.environmentId, feature: tenant.featureName, n: size, start: startedAt.toISOString() };
  await knex.raw('select setseed(0.42)');
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
  const t2 = performance.now();
  await knex.raw('vacuum analyze tracking_events');
  const vacuumSeconds = (performance.now() - t2) / 1000;
  const count = async (table: string) => Number(((await knex(table).where('environment_id', tenant.environmentId).count({ n: '*' }).first()) as { n: number }).n);
  return {
    tenant,
    experimentId,
    rows: { trackingEvents: await count('tracking_events') },
    generateSeconds: round(generateSeconds),
    vacuumAnalyzeSeconds: round(vacuumSeconds),
  };
}

/** Removes every tracking row, so that each scale point's table sizes are its own. */
export async function clearTracking(knex: Knex): Promise<void> {
  await knex.raw('truncate tracking_events, tracking_consumer_offsets, results_identities, results_states');
}

/** Heap and index bytes (MB) of the raw events (all partitions) and of the results state, with their indexes. */
export async function tableSizes(knex: Knex): Promise<Record<string, { tableMB: number; indexesMB: number }>> {
  const { rows } = await knex.raw<{ rows: { name: string; table_bytes: string; index_bytes: string }[] }>(
    `select case when c.relname like 'tracking_events_p%' then 'tracking_events' else c.relname end as name,
            sum(pg_table_size(c.oid)) as table_bytes, sum(pg_indexes_size(c.oid)) as index_bytes
       from pg_class c
      where c.relkind = 'r' and (c.relname like 'tracking_events_p%' or c.relname = 'results_identities')
        and c.relnamespace = to_regnamespace(current_schema())
      group by 1 order by 1`,
  );
  const mb = (bytes: string) => round(Number(bytes) / 1024 / 1024);
  return Object.fromEntries(rows.map((r) => [r.name, { tableMB: mb(r.table_bytes), indexesMB: mb(r.index_bytes) }]));
}

/** Peak resident set size of this process since the last resetPeakRss (VmHWM, MB). */
export function peakRssMB(): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return match ? round(Number(match[1]) / 1024) : NaN;
}

/** Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs), so that each phase's peak is its own. */
export function resetPeakRss(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // Not Linux, or not allowed: the peak then covers the whole run so far.
  }
}
