import type { Knex } from 'knex';

// Delivery state in Postgres (CONTRACT.md "Order and durability"): whatever BullMQ holds can be rebuilt from
// these tables, so Redis losing its data loses nothing.
//
// reply_deliveries: one row per reply to send: a command's reply (written in the command's transaction), an
//   early rejection's, the stored reply sent again to a duplicate, the new reply of an operator's replay.
//   `reply` is null when it is the inbox's stored reply (processed_commands.reply), so the common case stores
//   the JSON once. Delivered rows are pruned; undeliverable ones are parked (`parked_at`).
// held_commands: commands waiting behind a transient failure, in per-key order (id order within message_key).
//   The raw bytes and headers are kept so that every attempt reads and verifies the message again.
// failed_commands: commands answered 500 after their retries ran out; only an operator's replay applies them.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table reply_deliveries (
      id bigserial primary key,
      command_id uuid not null,
      topic text not null,
      reply jsonb,
      created_at timestamptz not null default now(),
      delivered_at timestamptz,
      parked_at timestamptz,
      last_error text
    )`);
  await knex.raw('create index reply_deliveries_pending on reply_deliveries (id) where delivered_at is null and parked_at is null');
  await knex.raw('create index reply_deliveries_delivered_at on reply_deliveries (delivered_at) where delivered_at is not null');

  await knex.raw(`
    create table held_commands (
      id bigserial primary key,
      message_key text not null,
      command_id uuid not null unique,
      command_type text not null,
      source_topic text not null,
      value bytea not null,
      headers jsonb not null default '{}',
      attempts integer not null default 0,
      last_error text,
      held_at timestamptz not null default now(),
      next_attempt_at timestamptz not null default now()
    )`);
  await knex.raw('create index held_commands_key_order on held_commands (message_key, id)');

  await knex.raw(`
    create table failed_commands (
      command_id uuid primary key,
      command_type text not null,
      message_key text not null,
      source_topic text not null,
      value bytea not null,
      headers jsonb not null default '{}',
      attempts integer not null,
      last_error text,
      failed_at timestamptz not null default now()
    )`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['failed_commands', 'held_commands', 'reply_deliveries']) await knex.schema.dropTableIfExists(table);
}
