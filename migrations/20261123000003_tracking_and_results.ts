import type { Knex } from 'knex';

// Results input (tracking events from SDKs) and output (one results row per experiment).
//
// tracking_events layout — range-partitioned by day on occurred_at, no default partition:
//  * every results query is bounded in time ([startedAt − CUPED lookback, endedAt or now]), so the planner
//    prunes to the days of one experiment's window instead of walking a table that holds TRACKING_RETENTION_DAYS
//    (180 by default) of every environment's events;
//  * retention is `drop table` of whole days (instant, no dead tuples, no vacuum debt), where a plain table
//    would need batched deletes of tens of millions of rows a day;
//  * partitions are created on demand by the ingester (and a day ahead by the maintenance job): see
//    src/results/tracking-store.ts. They are created stand-alone and then ATTACHed, which takes only a
//    SHARE UPDATE EXCLUSIVE lock on the parent, so results queries keep running meanwhile.
// One index per partition, (environment_id, event, occurred_at): it serves the exposure scan (environment,
// exposure event, window; feature and value are checked on the rows) and the metric-event scan (environment,
// metric events, window) when the environment is a small part of a day. The results query then sorts both sides
// by identity_key and merge-joins them (src/results/results-query.ts); it never looks identities up one at a
// time, so an (environment_id, identity_key) index would give it nothing (measured with bench/results.ts: it
// did not change the ingest rate either, ~75–80k events/s both ways, but it costs space). No foreign key to
// environments: a per-row check on the ingest path is not worth it; rows of a deleted environment are never read
// again (ids are not reused) and go with retention.
// Measured on the 2-core VM (bench/results.ts): ingest ~80k events/s through Kafka; results for 100k identities
// (1.1M rows) in ~1.4 s, for 1M identities (11M rows) in ~15 s.
//
// tracking_consumer_offsets: the ingester stores, in the same transaction as the rows, the next offset of
// each topic partition it has written, and skips messages below it. A batch redelivered after a crash
// between the insert and the Kafka offset commit is therefore not counted twice.
export async function up(knex: Knex): Promise<void> {
  // Fixed-width, never-null columns first: rows are deformed fastest when the columns a query reads sit at fixed
  // offsets. identity_key = hashtextextended(identifier, 0), computed on insert: the results query joins and groups
  // on it (sorting 10M bigints took 2.9 s against 5.2 s for the identifiers in "C" collation); see src/results/results-query.ts.
  await knex.raw(`
    create table tracking_events (
      environment_id bigint not null,
      occurred_at timestamptz not null,
      identity_key bigint not null,
      value_num double precision,
      event text not null,
      identifier text not null,
      feature text,
      value_text text
    ) partition by range (occurred_at)
  `);
  await knex.raw('create index tracking_events_env_event_time on tracking_events (environment_id, event, occurred_at)');

  await knex.schema.createTable('tracking_consumer_offsets', (t) => {
    t.text('consumer_group').notNullable();
    t.text('topic').notNullable();
    t.integer('partition').notNullable();
    t.bigInteger('next_offset').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['consumer_group', 'topic', 'partition']);
  });

  await knex.schema.createTable('experiment_results', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('experiment_id').notNullable().unique().references('experiments.id').onDelete('CASCADE');
    // The time the payload was computed for (the window's end while the experiment runs); null until then.
    t.timestamp('as_of', { useTz: true });
    t.timestamp('last_error_at', { useTz: true });
    t.text('last_error');
    t.timestamp('refresh_requested_at', { useTz: true });
    t.boolean('is_final').notNullable().defaultTo(false);
    t.jsonb('payload');
    t.timestamps(true, true);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('experiment_results');
  await knex.schema.dropTableIfExists('tracking_consumer_offsets');
  // Drops the partitions with it.
  await knex.raw('drop table if exists tracking_events cascade');
}
