import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { DomainEvent } from '../contracts/envelope.js';

// The one writer of outbox rows (CONTRACT.md "Event"): every domain event is built and queued for the relay
// here, whoever emits it (commands, results computations). The relay publishes rows in id order.

/** A domain event with a fresh id (consumers dedupe by it). */
export function domainEvent(fields: Omit<DomainEvent, 'id'>): DomainEvent {
  return { id: randomUUID(), ...fields };
}

/**
 * A row of the outbox table, columns as named in the migration. `headers` are the Kafka headers the relay sends;
 * `traceparent` is the trace of the command that emitted the event (the relay publishes under it).
 */
export interface OutboxRow {
  topic: string;
  message_key: string | null;
  payload: DomainEvent;
  headers: { 'event-type': string; traceparent?: string };
}

/**
 * The outbox row publishing `event` on `eventsTopic`, keyed by `key` (default: the event's environment), in the
 * trace `traceparent` when given.
 */
export function outboxRow(eventsTopic: string, event: DomainEvent, key: string | null = event.environment, traceparent?: string): OutboxRow {
  const headers = { 'event-type': event.type, ...(traceparent !== undefined ? { traceparent } : {}) };
  return { topic: eventsTopic, message_key: key, payload: event, headers };
}

/**
 * Inserts `rows` in their order, in one statement (the outbox trigger then wakes the relay once, at commit).
 * Run it in the transaction of the change the events describe.
 */
export async function insertOutboxRows(db: Knex | Knex.Transaction, rows: readonly OutboxRow[]): Promise<void> {
  if (rows.length === 0) return;
  // One JSON parameter whatever the number of rows; `with ordinality … order by` keeps their order in the ids.
  await db.raw(
    `insert into outbox (topic, message_key, payload, headers)
     select topic, message_key, payload, headers
       from rows from (jsonb_to_recordset(?::jsonb) as (topic text, message_key text, payload jsonb, headers jsonb))
         with ordinality as x(topic, message_key, payload, headers, ord)
      order by ord`,
    [JSON.stringify(rows)],
  );
}
