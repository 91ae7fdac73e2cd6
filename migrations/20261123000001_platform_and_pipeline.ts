import type { Knex } from 'knex';

// Platform mirror (organisations → projects → environments, features, admin grants) and the command
// pipeline's own tables: the inbox of processed commands, the transactional outbox and the audit log.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('organisations', (t) => {
    t.bigInteger('id').primary();
    t.text('name').notNullable();
    t.boolean('experimentation_enabled').notNullable().defaultTo(false);
    t.timestamps(true, true);
  });
  await knex.schema.createTable('projects', (t) => {
    t.bigInteger('id').primary();
    t.bigInteger('organisation_id').notNullable().references('organisations.id').onDelete('CASCADE').index();
    t.text('name').notNullable();
    t.timestamps(true, true);
  });
  await knex.schema.createTable('environments', (t) => {
    t.bigIncrements('id').primary();
    t.text('key').notNullable().unique();
    t.bigInteger('project_id').notNullable().references('projects.id').onDelete('CASCADE').index();
    t.text('name').notNullable();
    t.timestamps(true, true);
  });
  await knex.schema.createTable('features', (t) => {
    t.bigInteger('id').primary();
    t.bigInteger('project_id').notNullable().references('projects.id').onDelete('CASCADE').index();
    t.text('name').notNullable();
    t.text('type').notNullable();
    t.jsonb('variants').notNullable().defaultTo('[]');
    t.timestamps(true, true);
  });
  await knex.raw(`alter table features add constraint features_type_check check (type in ('STANDARD', 'MULTIVARIATE'))`);
  await knex.schema.createTable('access_grants', (t) => {
    t.text('user_id').notNullable();
    t.text('scope').notNullable();
    t.text('scope_id').notNullable();
    t.text('role').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['user_id', 'scope', 'scope_id', 'role']);
  });
  await knex.raw(`alter table access_grants add constraint access_grants_scope_check check (scope in ('organisation', 'project', 'environment'))`);
  await knex.raw(`alter table access_grants add constraint access_grants_role_check check (role in ('admin'))`);

  // Inbox: one row per command id ever answered; the reply is stored so a duplicate gets it again.
  await knex.schema.createTable('processed_commands', (t) => {
    t.uuid('command_id').primary();
    t.text('type').notNullable();
    t.text('environment_key');
    t.integer('status').notNullable();
    t.jsonb('reply').notNullable();
    t.text('reply_to');
    t.timestamp('processed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  // Transactional outbox: written in the command's transaction, published by the relay in id order.
  await knex.schema.createTable('outbox', (t) => {
    t.bigIncrements('id').primary();
    t.text('topic').notNullable();
    t.text('message_key');
    t.jsonb('payload').notNullable();
    t.jsonb('headers').notNullable().defaultTo('{}');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('published_at', { useTz: true });
  });
  await knex.raw('create index outbox_unpublished on outbox (id) where published_at is null');
  await knex.raw('create index outbox_published_at on outbox (published_at) where published_at is not null');

  // Audit: who changed what, with before/after, in the same transaction as the change. No foreign keys:
  // the record outlives the environment it speaks of.
  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.uuid('command_id').notNullable().index();
    t.text('environment_key').index();
    t.text('actor_type').notNullable();
    t.text('actor_id').notNullable();
    t.text('action').notNullable();
    t.text('resource_type').notNullable();
    t.text('resource_id');
    t.jsonb('before');
    t.jsonb('after');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['audit_log', 'outbox', 'processed_commands', 'access_grants', 'features', 'environments', 'projects', 'organisations']) {
    await knex.schema.dropTableIfExists(table);
  }
}
