import type { Knex } from 'knex';
import type { Reply } from '../contracts/envelope.js';
import type { OutboxRow } from './outbox.js';
import type { ReplyDelivery } from './delivery-state.js';

// The pipeline's own hot-path statements (migrations/…_platform_and_pipeline.ts, …_delivery_state.ts): what a
// stretch of commands needs to know first, and what the commands of a group (or a single command) leave behind.
// Each statement has a fixed text whatever the number of rows (rows travel as one JSON parameter), so it runs as
// a named prepared statement: Postgres parses and plans it once per connection.

type Db = Knex | Knex.Transaction;

/** An audit_log row, columns as named in the migration. */
export interface AuditRow {
  command_id: string;
  environment_key: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  resource_type: string;
  resource_id: string | null;
  before: unknown;
  after: unknown;
}

/** A processed_commands (inbox) row to write: the command id is its idempotency key. */
export interface InboxRow {
  command_id: string;
  type: string;
  environment_key: string | null;
  status: number;
  reply: Reply;
  reply_to: string | null;
  fingerprint: string | null;
}

/**
 * What one command leaves in Postgres, whatever its outcome: its audit rows, its events, its inbox row (none
 * for a duplicate or a message rejected before execution) and the delivery of its reply. One record per command
 * from its envelope to its rows, so a value of the command (a trace context, say) reaches all of them.
 */
export interface CommandRecord {
  commandId: string;
  audit: AuditRow[];
  outbox: OutboxRow[];
  inbox: InboxRow | null;
  reply: Reply;
  replyTopic: string;
  /** True when the delivery points at the reply stored in the inbox (this record's or an earlier one's). */
  replyStored: boolean;
  /** The trace its reply is published in (W3C traceparent), kept with the delivery; its outbox rows carry it too. */
  traceparent?: string | undefined;
}

const recordStatement = {
  name: 'expw_record_commands',
  // Data-modifying CTEs all run: a concurrent duplicate that got this far fails on the inbox primary key and its
  // whole transaction rolls back. `with ordinality … order by` keeps the rows' order in the serial ids (the relay
  // publishes the outbox in id order, so a key's events leave in command order).
  text: `with audit_rows as (
       insert into audit_log (command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after)
       select command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after
       from rows from (jsonb_to_recordset(?::jsonb) as (command_id uuid, environment_key text, actor_type text, actor_id text,
         action text, resource_type text, resource_id text, before jsonb, after jsonb))
         with ordinality as x(command_id, environment_key, actor_type, actor_id, action, resource_type, resource_id, before, after, ord)
       order by ord
     ), outbox_rows as (
       insert into outbox (topic, message_key, payload, headers)
       select topic, message_key, payload, headers
       from rows from (jsonb_to_recordset(?::jsonb) as (topic text, message_key text, payload jsonb, headers jsonb))
         with ordinality as x(topic, message_key, payload, headers, ord)
       order by ord
     ), inbox as (
       insert into processed_commands (command_id, type, environment_key, status, reply, reply_to, fingerprint)
       select command_id, type, environment_key, status, reply, reply_to, fingerprint
       from jsonb_to_recordset(?::jsonb) as x(command_id uuid, type text, environment_key text, status int, reply jsonb, reply_to text, fingerprint text)
     )
     insert into reply_deliveries (command_id, topic, reply, traceparent)
     select command_id, topic, reply, traceparent
     from rows from (jsonb_to_recordset(?::jsonb) as (command_id uuid, topic text, reply jsonb, traceparent text))
       with ordinality as x(command_id, topic, reply, traceparent, ord)
     order by ord
     returning id`,
};

/**
 * Writes the records of a group (or of one command) in ONE statement: every audit row, outbox row, inbox row and
 * reply delivery. A delivery of a stored reply has `reply` null: the reply JSON is kept once, in the inbox.
 * Returns the deliveries with their ids, in the order of `records`.
 */
export async function writeCommandRecords(db: Db, records: readonly CommandRecord[]): Promise<ReplyDelivery[]> {
  if (!records.length) return [];
  const audit: AuditRow[] = [];
  const outbox: OutboxRow[] = [];
  const inbox: InboxRow[] = [];
  const deliveries: Array<{ command_id: string; topic: string; reply: Reply | null; traceparent: string | null }> = [];
  for (const r of records) {
    audit.push(...r.audit);
    outbox.push(...r.outbox);
    if (r.inbox) inbox.push(r.inbox);
    deliveries.push({ command_id: r.commandId, topic: r.replyTopic, reply: r.replyStored ? null : r.reply, traceparent: r.traceparent ?? null });
  }
  const { rows } = await db
    .raw<{ rows: { id: number }[] }>(recordStatement.text, [JSON.stringify(audit), JSON.stringify(outbox), JSON.stringify(inbox), JSON.stringify(deliveries)])
    .options({ name: recordStatement.name });
  // INSERT … SELECT … ORDER BY assigns serial ids in that order, and RETURNING reports them as inserted.
  const ids = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  return records.map((r, i) => ({ id: ids[i]!, commandId: r.commandId, topic: r.replyTopic, reply: r.reply, ...(r.traceparent ? { traceparent: r.traceparent } : {}) }));
}

/** An inbox row as a later duplicate of its id needs it. */
export interface AnsweredCommand {
  commandId: string;
  type: string;
  status: number;
  /** Null once past INBOX_REPLY_RETENTION_DAYS. */
  reply: Reply | null;
  fingerprint: string | null;
  processedAt: Date;
}

export interface StretchState {
  /** Keys with commands held: their later commands queue behind them. */
  heldKeys: Set<string>;
  /** Ids answered before (committed): duplicates, answered from the inbox without running anything. */
  answered: Map<string, AnsweredCommand>;
}

const stretchStatement = {
  name: 'expw_stretch_state',
  text: `select null::text as held_key, command_id, type, status, reply, fingerprint, processed_at
     from processed_commands where command_id = any(?::uuid[])
     union all
     select distinct message_key, null::uuid, null::text, null::int, null::jsonb, null::text, null::timestamptz from held_commands where message_key = any(?::text[])`,
};

/** What a stretch must know before it runs: its held keys and its ids already answered, in one round trip. */
export async function stretchState(db: Db, keys: string[], commandIds: string[]): Promise<StretchState> {
  const state: StretchState = { heldKeys: new Set(), answered: new Map() };
  if (!keys.length && !commandIds.length) return state;
  const { rows } = await db
    .raw<{ rows: Array<{ held_key: string | null; command_id: string; type: string; status: number; reply: Reply | null; fingerprint: string | null; processed_at: Date }> }>(
      stretchStatement.text,
      [commandIds, keys],
    )
    .options({ name: stretchStatement.name });
  for (const r of rows) {
    if (r.held_key !== null) state.heldKeys.add(r.held_key);
    else state.answered.set(r.command_id, { commandId: r.command_id, type: r.type, status: r.status, reply: r.reply, fingerprint: r.fingerprint, processedAt: r.processed_at });
  }
  return state;
}

/** The inbox row of one id, if answered (a duplicate found by the inbox primary key). */
export async function answeredCommand(db: Db, commandId: string): Promise<AnsweredCommand | undefined> {
  return (await stretchState(db, [], [commandId])).answered.get(commandId);
}
