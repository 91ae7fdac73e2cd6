import type { Knex } from 'knex';
import type { ParkedKind as ParkedMetricKind } from '../metrics.js';

// Parked messages (migrations/20261201000020_parking.ts): outbox events and replies the broker refused for good or
// whose attempts ran out, and DLQ copies the DLQ topic refused. Listed, retried and discarded by `expctl parked`;
// the relay and the reconciler leave them alone. Discarding keeps the row (`discarded_at`): it is the only record
// of a message that was never delivered.

type Db = Knex | Knex.Transaction;

export const PARKED_KINDS = ['event', 'reply', 'dead-letter'] as const;
export type ParkedKind = (typeof PARKED_KINDS)[number];

/** A parked message as operators see it; `id` is `<kind>-<row id>`, unique across the kinds. */
export interface ParkedMessage {
  id: string;
  kind: ParkedKind;
  rowId: number;
  topic: string;
  /** The message key (an event's environment, a reply's command id, an unreadable command's original key). */
  key: string | null;
  commandId: string | null;
  bytes: number;
  createdAt: string;
  parkedAt: string;
  discardedAt: string | null;
  lastError: string | null;
}

export const parkedId = (kind: ParkedKind, rowId: number) => `${kind}-${rowId}`;

/** `event-12` → { kind: 'event', rowId: 12 }; undefined when it names no kind. */
export function parseParkedId(id: string): { kind: ParkedKind; rowId: number } | undefined {
  const match = /^(event|reply|dead-letter)-(\d{1,18})$/.exec(id.trim());
  return match ? { kind: match[1] as ParkedKind, rowId: Number(match[2]) } : undefined;
}

// One query per kind, the same columns each: id, topic, key, command id, bytes, created, parked, discarded, error.
const LIST_SQL: Record<ParkedKind, string> = {
  event: `select id, topic, message_key as key, payload->>'commandId' as command_id, octet_length(payload::text) as bytes,
            created_at, parked_at, discarded_at, last_error
          from outbox where parked_at is not null`,
  reply: `select d.id, d.topic, d.command_id::text as key, d.command_id::text as command_id,
            coalesce(octet_length(coalesce(d.reply, c.reply)::text), 0) as bytes, d.created_at, d.parked_at, d.discarded_at, d.last_error
          from reply_deliveries d left join processed_commands c on c.command_id = d.command_id
          where d.parked_at is not null and d.delivered_at is null`,
  'dead-letter': `select id, topic, encode(message_key, 'escape') as key, null as command_id, coalesce(octet_length(value), 0) as bytes,
            parked_at as created_at, parked_at, discarded_at, last_error
          from parked_dead_letters where true`,
};

interface ListedRow {
  id: number;
  topic: string;
  key: string | null;
  command_id: string | null;
  bytes: number;
  created_at: Date;
  parked_at: Date;
  discarded_at: Date | null;
  last_error: string | null;
}

/** Parked messages of `kinds`, oldest first within each kind; discarded ones only when asked for. */
export async function listParked(db: Db, options: { kinds: readonly ParkedKind[]; includeDiscarded?: boolean; limit?: number }): Promise<ParkedMessage[]> {
  const limit = options.limit ?? 1000;
  const listed: ParkedMessage[] = [];
  for (const kind of options.kinds) {
    const discarded = options.includeDiscarded ? '' : ' and discarded_at is null';
    const { rows } = await db.raw<{ rows: ListedRow[] }>(`select * from (${LIST_SQL[kind]}) p where true${discarded} order by id limit ?`, [limit]);
    listed.push(
      ...rows.map((r) => ({
        id: parkedId(kind, Number(r.id)),
        kind,
        rowId: Number(r.id),
        topic: r.topic,
        key: r.key,
        commandId: r.command_id,
        bytes: Number(r.bytes),
        createdAt: r.created_at.toISOString(),
        parkedAt: r.parked_at.toISOString(),
        discardedAt: r.discarded_at?.toISOString() ?? null,
        lastError: r.last_error,
      })),
    );
  }
  return listed;
}

/** Parked messages not discarded, per kind (the expw_parked_messages gauge). */
export async function countParked(db: Db): Promise<Record<ParkedMetricKind, number>> {
  const { rows } = await db.raw<{ rows: { event: number; reply: number; dead_letter: number }[] }>(
    `select (select count(*) from outbox where parked_at is not null and discarded_at is null)::int as event,
            (select count(*) from reply_deliveries where parked_at is not null and discarded_at is null and delivered_at is null)::int as reply,
            (select count(*) from parked_dead_letters where discarded_at is null)::int as dead_letter`,
  );
  return rows[0]!;
}

const TABLES: Record<ParkedKind, string> = { event: 'outbox', reply: 'reply_deliveries', 'dead-letter': 'parked_dead_letters' };

/** Marks parked messages of a kind discarded (all, or those of `rowIds`); returns the row ids it marked. */
export async function discardParked(db: Db, kind: ParkedKind, rowIds: number[] | 'all'): Promise<number[]> {
  const undelivered = kind === 'reply' ? ' and delivered_at is null' : kind === 'event' ? ' and published_at is null' : '';
  const { rows } = await db.raw<{ rows: { id: number }[] }>(
    `update ${TABLES[kind]} set discarded_at = now()
     where discarded_at is null${kind === 'dead-letter' ? '' : ' and parked_at is not null'}${undelivered}
       and (?::boolean or id = any(?::bigint[]))
     returning id`,
    [rowIds === 'all', rowIds === 'all' ? [] : rowIds],
  );
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** An operator's retry of parked events: unparked, so the relay publishes them (after the events already sent). */
export async function unparkEvents(db: Db, rowIds: number[] | 'all'): Promise<number[]> {
  const { rows } = await db.raw<{ rows: { id: number }[] }>(
    `update outbox set parked_at = null, last_error = null
     where parked_at is not null and discarded_at is null and published_at is null and (?::boolean or id = any(?::bigint[]))
     returning id`,
    [rowIds === 'all', rowIds === 'all' ? [] : rowIds],
  );
  return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
}

/** A DLQ copy as it was to be sent: the original key and value, its headers with the x-dlq-* ones. */
export interface DeadLetterCopy {
  topic: string;
  sourceTopic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  reason: string;
}

export async function parkDeadLetter(db: Db, copy: DeadLetterCopy, error: string): Promise<void> {
  await db('parked_dead_letters').insert({
    topic: copy.topic,
    source_topic: copy.sourceTopic,
    source_partition: copy.partition,
    source_offset: copy.offset,
    message_key: copy.key,
    value: copy.value,
    headers: JSON.stringify(copy.headers),
    reason: copy.reason,
    last_error: error.slice(0, 1000),
  });
}

/** Parked DLQ copies not discarded (all, or those of `rowIds`), oldest first. */
export async function parkedDeadLetters(db: Db, rowIds: number[] | 'all'): Promise<Array<DeadLetterCopy & { rowId: number }>> {
  const query = db('parked_dead_letters').whereNull('discarded_at').orderBy('id');
  if (rowIds !== 'all') query.whereIn('id', rowIds);
  const rows = await query;
  return rows.map((r) => ({
    rowId: Number(r.id),
    topic: r.topic,
    sourceTopic: r.source_topic,
    partition: r.source_partition,
    offset: r.source_offset,
    key: r.message_key,
    value: r.value,
    headers: r.headers,
    reason: r.reason,
  }));
}

/** A parked DLQ copy that is in the DLQ topic now: the topic is its record from here on. */
export async function removeParkedDeadLetter(db: Db, rowId: number): Promise<void> {
  await db('parked_dead_letters').where('id', rowId).delete();
}

export async function recordDeadLetterFailure(db: Db, rowId: number, error: string): Promise<void> {
  await db('parked_dead_letters').where('id', rowId).update({ last_error: error.slice(0, 1000), parked_at: db.fn.now() });
}
