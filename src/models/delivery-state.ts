import type { Knex } from 'knex';
import type { Reply } from '../contracts/envelope.js';

// Queries over the pipeline's delivery state (migrations/20261201000001_delivery_state.ts): replies still to
// send, commands held behind a transient failure, commands that failed after their retries. Postgres is the
// record; BullMQ only moves what these rows say (src/pipeline/reconciler.ts rebuilds it).

type Db = Knex | Knex.Transaction;

/** A reply to send, as the reply queue carries it. */
export interface ReplyDelivery {
  id: number;
  commandId: string;
  topic: string;
  reply: Reply;
  /** How often an operator has sent it again after it was parked (part of its job id); absent means 0. */
  generation?: number;
  /** The trace the reply is published in (W3C traceparent of its command), when there is one. */
  traceparent?: string;
}

/** A reply to record; `reply: null` means the inbox's stored reply of `commandId`. */
export interface ReplyDeliveryDraft {
  commandId: string;
  topic: string;
  reply: Reply;
  /** True when the reply is the one stored in processed_commands (not stored twice). */
  stored: boolean;
  traceparent?: string | undefined;
}

/** Records replies to send, in one statement; returns them with their ids, in the order given. */
export async function insertReplyDeliveries(db: Db, drafts: ReplyDeliveryDraft[]): Promise<ReplyDelivery[]> {
  if (!drafts.length) return [];
  const rows = drafts.map((d) => ({ command_id: d.commandId, topic: d.topic, reply: d.stored ? null : d.reply, traceparent: d.traceparent ?? null }));
  const { rows: ids } = await db.raw<{ rows: { id: number }[] }>(
    `insert into reply_deliveries (command_id, topic, reply, traceparent)
     select command_id, topic, reply, traceparent
     from rows from (jsonb_to_recordset(?::jsonb) as (command_id uuid, topic text, reply jsonb, traceparent text))
       with ordinality as x(command_id, topic, reply, traceparent, ord)
     order by ord
     returning id`,
    [JSON.stringify(rows)],
  );
  // INSERT … SELECT … ORDER BY assigns serial ids in that order, and RETURNING reports them as inserted.
  const sorted = ids.map((r) => Number(r.id)).sort((a, b) => a - b);
  return drafts.map((d, i) => ({ id: sorted[i]!, commandId: d.commandId, topic: d.topic, reply: d.reply, ...(d.traceparent ? { traceparent: d.traceparent } : {}) }));
}

/** One statement for any number of ids (a named statement: it runs once per stretch on the direct reply path). */
export async function markRepliesDelivered(db: Db, ids: number[]): Promise<void> {
  if (ids.length) await db.raw('update reply_deliveries set delivered_at = now() where id = any(?::bigint[])', [ids]).options({ name: 'expw_mark_replies_delivered' });
}

/** A reply whose attempts ran out: kept, counted and listed, never retried by itself again. */
export async function parkReplyDelivery(db: Db, id: number, error: string): Promise<void> {
  await db('reply_deliveries').where('id', id).whereNull('delivered_at').update({ parked_at: db.fn.now(), last_error: error.slice(0, 1000) });
}

/** Undelivered, unparked replies recorded more than `minAgeMs` ago, oldest first. */
export async function pendingReplyDeliveries(db: Db, minAgeMs: number, limit: number): Promise<ReplyDelivery[]> {
  const { rows } = await db.raw<{ rows: DeliveryRow[] }>(
    `select d.id, d.command_id, d.topic, coalesce(d.reply, c.reply) as reply, d.generation, d.traceparent
     from reply_deliveries d
     left join processed_commands c on c.command_id = d.command_id
     where d.delivered_at is null and d.parked_at is null
       and d.created_at < now() - (?::bigint * interval '1 millisecond')
       and coalesce(d.reply, c.reply) is not null
     order by d.id
     limit ?`,
    [minAgeMs, limit],
  );
  return rows.map(toReplyDelivery);
}

/**
 * The reply of a delivery still to make, as Postgres has it: the reply queue's jobs send what this says, never what
 * a job's data says (whoever can write to Redis could otherwise publish anything anywhere). Undefined once it is
 * delivered or parked (a job run twice, or queued again by the reconciler meanwhile, sends nothing more).
 */
export async function undeliveredReply(db: Db, id: number, commandId: string): Promise<ReplyDelivery | undefined> {
  const { rows } = await db.raw<{ rows: DeliveryRow[] }>(
    `select d.id, d.command_id, d.topic, coalesce(d.reply, c.reply) as reply, d.generation, d.traceparent
     from reply_deliveries d
     left join processed_commands c on c.command_id = d.command_id
     where d.id = ? and d.command_id = ? and d.delivered_at is null and d.parked_at is null and coalesce(d.reply, c.reply) is not null`,
    [id, commandId],
  );
  return rows[0] ? toReplyDelivery(rows[0]) : undefined;
}

type DeliveryRow = { id: number; command_id: string; topic: string; reply: Reply; generation: number; traceparent?: string | null };
const toReplyDelivery = (r: DeliveryRow): ReplyDelivery => ({
  id: Number(r.id),
  commandId: r.command_id,
  topic: r.topic,
  reply: r.reply,
  ...(r.generation ? { generation: r.generation } : {}),
  ...(r.traceparent ? { traceparent: r.traceparent } : {}),
});

/**
 * An operator's retry of parked replies (all of them, or those of `ids`): unparked with the next generation, so
 * that their new jobs have ids of their own; returned as the reply queue carries them. Discarded replies, and
 * those whose stored reply is gone, stay as they are.
 */
export async function unparkReplyDeliveries(db: Db, ids: number[] | 'all'): Promise<ReplyDelivery[]> {
  const { rows } = await db.raw<{ rows: DeliveryRow[] }>(
    `with unparked as (
       update reply_deliveries d set parked_at = null, last_error = null, generation = generation + 1
       where d.parked_at is not null and d.discarded_at is null and d.delivered_at is null
         and (?::boolean or d.id = any(?::bigint[]))
         and (d.reply is not null or exists (select 1 from processed_commands c where c.command_id = d.command_id and c.reply is not null))
       returning d.id, d.command_id, d.topic, d.reply, d.generation, d.traceparent)
     select u.id, u.command_id, u.topic, coalesce(u.reply, c.reply) as reply, u.generation, u.traceparent
     from unparked u left join processed_commands c on c.command_id = u.command_id
     order by u.id`,
    [ids === 'all', ids === 'all' ? [] : ids],
  );
  return rows.map(toReplyDelivery);
}

export async function pruneDeliveredReplies(db: Db, olderThanMs: number): Promise<number> {
  return db('reply_deliveries')
    .where('delivered_at', '<', db.raw(`now() - (?::bigint * interval '1 millisecond')`, [olderThanMs]))
    .delete();
}

/** A commands-topic message kept in Postgres: its key, raw bytes and headers, as read from Kafka. */
export interface StoredCommandMessage {
  commandId: string;
  commandType: string;
  messageKey: string;
  sourceTopic: string;
  value: Buffer;
  headers: Record<string, string | undefined>;
}

export interface HeldCommand extends StoredCommandMessage {
  id: number;
  attempts: number;
  nextAttemptAt: Date;
}

/** What the retry scheduler needs to run a held command at the right time. */
export interface HeldCommandRef {
  heldId: number;
  commandId: string;
  commandType: string;
  notBefore: Date;
}

interface HeldRow {
  id: number;
  message_key: string;
  command_id: string;
  command_type: string;
  source_topic: string;
  value: Buffer;
  headers: Record<string, string | undefined>;
  attempts: number;
  next_attempt_at: Date;
}

const toHeld = (r: HeldRow): HeldCommand => ({
  id: Number(r.id),
  messageKey: r.message_key,
  commandId: r.command_id,
  commandType: r.command_type,
  sourceTopic: r.source_topic,
  value: r.value,
  headers: r.headers,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
});

/**
 * Appends a command to its key's held queue and returns the key's head (the command to run next). A command
 * id already held is not held twice (a redelivery), and one already answered is not held at all (`null`):
 * it is a duplicate, answered from the inbox without waiting.
 */
export async function holdCommand(db: Db, message: StoredCommandMessage, error: string): Promise<HeldCommandRef | null> {
  const { rows } = await db.raw<{ rows: { id: number }[] }>(
    `insert into held_commands (message_key, command_id, command_type, source_topic, value, headers, last_error)
     select ?, ?, ?, ?, ?, ?::jsonb, ?
     where not exists (select 1 from processed_commands where command_id = ?)
     on conflict (command_id) do update set last_error = held_commands.last_error
     returning id`,
    [message.messageKey, message.commandId, message.commandType, message.sourceTopic, message.value, JSON.stringify(message.headers), error.slice(0, 1000), message.commandId],
  );
  if (!rows.length) return null;
  return heldHead(db, message.messageKey);
}

/** The first held command of a key, if any. */
export async function heldHead(db: Db, messageKey: string): Promise<HeldCommandRef | null> {
  const row = await db('held_commands').where('message_key', messageKey).orderBy('id').first('id', 'command_id', 'command_type', 'next_attempt_at');
  return row ? { heldId: Number(row.id), commandId: row.command_id, commandType: row.command_type, notBefore: row.next_attempt_at } : null;
}

/** The head of every key's held queue. */
export async function heldHeads(db: Db, limit: number): Promise<HeldCommandRef[]> {
  const { rows } = await db.raw<{ rows: { id: number; command_id: string; command_type: string; next_attempt_at: Date }[] }>(
    `select distinct on (message_key) id, command_id, command_type, next_attempt_at from held_commands order by message_key, id limit ?`,
    [limit],
  );
  return rows.map((r) => ({ heldId: Number(r.id), commandId: r.command_id, commandType: r.command_type, notBefore: r.next_attempt_at }));
}

export async function heldCommand(db: Db, heldId: number, options: { lock?: boolean } = {}): Promise<HeldCommand | undefined> {
  const query = db<HeldRow>('held_commands').where('id', heldId).first();
  const row = (await (options.lock ? query.forUpdate() : query)) as HeldRow | undefined;
  return row ? toHeld(row) : undefined;
}

/** Counts a failed attempt; returns the attempts made so far. */
export async function recordHeldAttempt(db: Db, heldId: number, error: string, nextAttemptAt: Date): Promise<number> {
  const { rows } = await db.raw<{ rows: { attempts: number }[] }>(
    'update held_commands set attempts = attempts + 1, last_error = ?, next_attempt_at = ? where id = ? returning attempts',
    [error.slice(0, 1000), nextAttemptAt, heldId],
  );
  return rows[0]?.attempts ?? 0;
}

export async function releaseHeld(trx: Knex.Transaction, heldId: number): Promise<void> {
  await trx('held_commands').where('id', heldId).delete();
}

/** Moves a held command whose retries ran out to failed_commands (in the transaction that answers it 500). */
export async function moveHeldToFailed(trx: Knex.Transaction, heldId: number): Promise<void> {
  await trx.raw(
    `with moved as (delete from held_commands where id = ? returning *)
     insert into failed_commands (command_id, command_type, message_key, source_topic, value, headers, attempts, last_error)
     select command_id, command_type, message_key, source_topic, value, headers, attempts, last_error from moved
     on conflict (command_id) do update set attempts = excluded.attempts, last_error = excluded.last_error, failed_at = now()`,
    [heldId],
  );
}

export interface FailedCommand extends StoredCommandMessage {
  attempts: number;
  lastError: string | null;
  failedAt: Date;
}

export async function failedCommand(db: Db, commandId: string, options: { lock?: boolean } = {}): Promise<FailedCommand | undefined> {
  const query = db('failed_commands').where('command_id', commandId).first();
  const row = await (options.lock ? query.forUpdate() : query);
  if (!row) return undefined;
  return {
    commandId: row.command_id,
    commandType: row.command_type,
    messageKey: row.message_key,
    sourceTopic: row.source_topic,
    value: row.value,
    headers: row.headers,
    attempts: row.attempts,
    lastError: row.last_error,
    failedAt: row.failed_at,
  };
}

/** An operator's replay of a failed command: the 500 it was answered with makes way for the real outcome. */
export async function clearFailedCommand(trx: Knex.Transaction, commandId: string): Promise<void> {
  await trx('failed_commands').where('command_id', commandId).delete();
  await trx('processed_commands').where('command_id', commandId).delete();
}

/**
 * Drops the reply bodies of inbox rows older than `retentionDays` (CONTRACT.md "Inbox retention"); the id,
 * fingerprint and status stay for good. Returns how many bodies were dropped.
 */
export async function expireInboxReplies(db: Db, retentionDays: number): Promise<number> {
  const { rowCount } = await db.raw(
    `update processed_commands set reply = null
     where reply is not null and processed_at < now() - (?::int * interval '1 day')`,
    [retentionDays],
  );
  return rowCount ?? 0;
}
