import type { Knex } from 'knex';

// Parking (CONTRACT.md "Limits and hostile input"): a message the broker refuses for good is kept in Postgres,
// counted and listed, instead of being retried for ever or blocking the messages behind it.
//
// outbox: a parked row has `parked_at` and `last_error`; the relay skips it, so the rows behind it go on.
//   `expctl parked retry` clears `parked_at` (the relay tries it again); `discard` sets `discarded_at` and keeps
//   the row as the record of an event that was never delivered. Only published rows are pruned.
// reply_deliveries: `parked_at`/`last_error` exist already. `generation` is part of the reply job's id, so a
//   retried reply gets a fresh BullMQ job (a job id that exists in any state makes `add` a no-op).
// parked_dead_letters: DLQ copies of unreadable commands that the DLQ topic refused, with the original bytes,
//   so that the command's offset can still be committed (the letter is durable here instead).
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table outbox add column parked_at timestamptz, add column last_error text, add column discarded_at timestamptz;
    drop index if exists outbox_unpublished;
    create index outbox_unpublished on outbox (id) where published_at is null and parked_at is null;
    create index outbox_parked on outbox (id) where parked_at is not null;

    alter table reply_deliveries add column generation integer not null default 0, add column discarded_at timestamptz;
    create index reply_deliveries_parked on reply_deliveries (id) where parked_at is not null;
  `);
  await knex.raw(`
    create table parked_dead_letters (
      id bigserial primary key,
      topic text not null,
      source_topic text not null,
      source_partition integer not null,
      source_offset text not null,
      message_key bytea,
      value bytea,
      headers jsonb not null default '{}',
      reason text not null,
      last_error text,
      parked_at timestamptz not null default now(),
      discarded_at timestamptz
    )`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('parked_dead_letters');
  await knex.raw(`
    drop index if exists reply_deliveries_parked;
    alter table reply_deliveries drop column generation, drop column discarded_at;
    drop index if exists outbox_parked;
    drop index if exists outbox_unpublished;
    alter table outbox drop column parked_at, drop column last_error, drop column discarded_at;
    create index outbox_unpublished on outbox (id) where published_at is null;
  `);
}
