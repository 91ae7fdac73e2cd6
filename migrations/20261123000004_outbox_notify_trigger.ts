import type { Knex } from 'knex';

// Wakes the outbox relay from the database itself: one NOTIFY per inserting statement, delivered at commit.
// Saves the command pipeline a round trip per command and cannot be forgotten by a writer.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function notify_outbox() returns trigger language plpgsql as $$
    begin
      perform pg_notify('experimentation_outbox', '');
      return null;
    end $$;
    create trigger outbox_notify after insert on outbox for each statement execute function notify_outbox();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists outbox_notify on outbox; drop function if exists notify_outbox();');
}
