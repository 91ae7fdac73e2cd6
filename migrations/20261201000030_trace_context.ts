import type { Knex } from 'knex';

// Traces (README "Observability"): a reply is published in the trace of the command it answers, so its delivery
// row keeps that command's W3C `traceparent` (null for a command that came without one). Events need no column:
// an outbox row's `headers`, which the relay sends as they are, carry it.
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table reply_deliveries add column traceparent text');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('alter table reply_deliveries drop column traceparent');
}
