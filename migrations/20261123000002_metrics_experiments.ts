import type { Knex } from 'knex';

// Environment-scoped metrics library, experiments on multivariate features and the metrics attached to them.
// Metrics and experiments are soft-deleted (deleted_at); attachments are hard-deleted. Everything cascades
// from the environment, so environment.delete removes it all.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('metrics', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('uuid').notNullable().unique().defaultTo(knex.raw('gen_random_uuid()'));
    t.bigInteger('environment_id').notNullable().references('environments.id').onDelete('CASCADE');
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('aggregation').notNullable().defaultTo('mean');
    t.text('direction').notNullable().defaultTo('up');
    t.jsonb('definition').notNullable();
    t.timestamps(true, true);
    t.timestamp('deleted_at', { useTz: true });
  });
  await knex.raw(`alter table metrics add constraint metrics_aggregation_check check (aggregation in ('count', 'sum', 'mean', 'occurrence'))`);
  await knex.raw(`alter table metrics add constraint metrics_direction_check check (direction in ('up', 'down', 'informational'))`);
  // metric.list: the live metrics of one environment, newest first.
  await knex.raw('create index metrics_environment_live on metrics (environment_id, created_at desc, id desc) where deleted_at is null');

  await knex.schema.createTable('experiments', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('uuid').notNullable().unique().defaultTo(knex.raw('gen_random_uuid()'));
    t.bigInteger('environment_id').notNullable().references('environments.id').onDelete('CASCADE');
    t.bigInteger('feature_id').notNullable().references('features.id').onDelete('CASCADE').index();
    t.text('name').notNullable();
    t.text('hypothesis').notNullable().defaultTo('');
    t.text('status').notNullable().defaultTo('created');
    t.text('exposure_event').notNullable().defaultTo('$flag_exposure');
    t.text('control_variant').notNullable().defaultTo('control');
    t.timestamp('started_at', { useTz: true });
    t.timestamp('ended_at', { useTz: true });
    t.timestamps(true, true);
    t.timestamp('deleted_at', { useTz: true });
  });
  await knex.raw(`alter table experiments add constraint experiments_status_check check (status in ('created', 'running', 'paused', 'completed'))`);
  // At most one active experiment per feature and environment; concurrent creates are settled here.
  await knex.raw(
    `create unique index experiments_active_feature_unique on experiments (environment_id, feature_id) where deleted_at is null and status <> 'completed'`,
  );
  await knex.raw('create index experiments_environment_live on experiments (environment_id, created_at desc, id desc) where deleted_at is null');

  await knex.schema.createTable('experiment_metrics', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('uuid').notNullable().unique().defaultTo(knex.raw('gen_random_uuid()'));
    t.bigInteger('experiment_id').notNullable().references('experiments.id').onDelete('CASCADE');
    t.bigInteger('metric_id').notNullable().references('metrics.id').onDelete('CASCADE').index();
    t.text('expected_direction').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Also the index for loading an experiment's attachments.
    t.unique(['experiment_id', 'metric_id'], { indexName: 'experiment_metrics_experiment_metric_unique' });
  });
  await knex.raw(
    `alter table experiment_metrics add constraint experiment_metrics_expected_direction_check check (expected_direction in ('increase', 'decrease', 'not_increase', 'not_decrease'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['experiment_metrics', 'experiments', 'metrics']) {
    await knex.schema.dropTableIfExists(table);
  }
}
