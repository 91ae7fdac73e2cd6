import type { Knex } from 'knex';
import type { CommandEnvelope, Reply } from '../contracts/envelope.js';
import { fieldErrors } from '../contracts/errors.js';
import type { Config } from '../config.js';
import { authorizeEnvironment } from '../handlers/authorize.js';
import { CommandRejection, forbidden, type AuditDraft, type CommandContext, type CommandHandler, type EnvironmentScope, type EventDraft, type JobDraft } from '../handlers/types.js';
import { answeredCommand, writeCommandRecords, type AnsweredCommand, type CommandRecord } from '../models/command-outcomes.js';
import { insertReplyDeliveries, type ReplyDelivery } from '../models/delivery-state.js';
import { domainEvent, outboxRow } from '../models/outbox.js';

/** The channel the outbox trigger (migrations/…_outbox_notify_trigger.ts) notifies on commit. */
export const OUTBOX_CHANNEL = 'experimentation_outbox';

export interface ExecutionResult {
  reply: Reply;
  /** True when the command id had been answered before: nothing was applied, the stored reply is returned. */
  duplicate: boolean;
  /** Jobs to enqueue now that the transaction has committed. */
  jobs: JobDraft[];
  /** The reply, recorded for delivery in the same transaction as the outcome. */
  delivery: ReplyDelivery;
}

export interface ExecuteDeps {
  knex: Knex;
  config: Pick<Config, 'EVENTS_TOPIC' | 'RESULTS_REFRESH_MIN_INTERVAL_S' | 'CUPED_LOOKBACK_DAYS'>;
  now?: () => Date;
}

export interface ExecuteOptions {
  /** Where the reply goes (the envelope's replyTo, or the default replies topic). */
  replyTopic: string;
  /** The command's fingerprint (read-command.ts), kept with its inbox row; a duplicate must match it. */
  fingerprint: string;
  /**
   * Runs inside the transaction that records the outcome, whichever outcome it is (applied, rejected or
   * duplicate), before the inbox row is written: a held command leaves its queue, a replayed one clears its 500.
   */
  settle?: (trx: Knex.Transaction) => Promise<void>;
  /** The trace the command's reply and events are published in (W3C traceparent), kept with them. */
  traceparent?: string | undefined;
}

/**
 * Applies one authenticated command exactly once. In one transaction: authorisation, the handler's change,
 * its audit records, its events (outbox), its reply (inbox row keyed by command id) and the reply's delivery
 * record. A rejection rolls the change back and records the rejection instead. A second execution of the same
 * id, even a concurrent one, loses on the inbox primary key, rolls back and records the stored reply for
 * delivery again. Transient database errors are thrown for the caller to retry.
 */
export async function executeCommand(deps: ExecuteDeps, envelope: CommandEnvelope, handler: CommandHandler, options: ExecuteOptions): Promise<ExecutionResult> {
  // No look-up of the inbox first: every command would pay a round trip for the rare duplicate. A duplicate
  // runs, fails on the inbox primary key at the end, rolls back whole and answers with the stored reply.
  const now = deps.now?.() ?? new Date();
  try {
    return await deps.knex.transaction(async (trx) => {
      const { reply, ...result } = await runHandler(trx, deps, envelope, handler, now);
      await options.settle?.(trx);
      const delivery = await recordOutcome(trx, deps, envelope, reply, options, result.events, result.audit);
      return { reply, duplicate: false, jobs: result.jobs, delivery };
    });
  } catch (error) {
    if (isInboxConflict(error)) return duplicateOf(deps.knex, envelope, options);
    if (!(error instanceof CommandRejection)) throw error;
    const reply = buildReply(envelope, error.status, error.body, now);
    try {
      return await deps.knex.transaction(async (trx) => {
        await options.settle?.(trx);
        const delivery = await recordOutcome(trx, deps, envelope, reply, options, [rejectionEvent(error)], []);
        return { reply, duplicate: false, jobs: [], delivery };
      });
    } catch (recordError) {
      if (isInboxConflict(recordError)) return duplicateOf(deps.knex, envelope, options);
      throw recordError;
    }
  }
}

/** How an environment-scoped command's actor is authorised (handlers/authorize.ts; a group caches it). */
export type Authorise = (trx: Knex.Transaction, environmentKey: string | undefined, actor: CommandEnvelope['actor']) => Promise<EnvironmentScope>;

/**
 * Authorisation, payload and handler of one command, in `trx`: its reply, events, audit and jobs as data. Throws
 * a CommandRejection for a rejection, anything else for a failure.
 */
export async function runHandler(
  trx: Knex.Transaction,
  deps: Pick<ExecuteDeps, 'config'>,
  envelope: CommandEnvelope,
  handler: CommandHandler,
  now: Date,
  authorise: Authorise = authorizeEnvironment,
): Promise<{ reply: Reply; events: EventDraft[]; audit: AuditDraft[]; jobs: JobDraft[] }> {
  const ctx: CommandContext = { trx, command: envelope, actor: envelope.actor, now, config: deps.config };
  if (handler.scope === 'platform') {
    if (envelope.actor.type !== 'system') throw forbidden();
  } else {
    ctx.scope = await authorise(trx, envelope.environment, envelope.actor);
  }
  const parsed = handler.payload.safeParse(envelope.payload ?? {});
  if (!parsed.success) throw new CommandRejection(400, fieldErrors(parsed.error));
  const result = await handler.handle(ctx, parsed.data);
  const reply = buildReply(envelope, result.status, result.status === 204 ? null : result.body, now);
  return { reply, events: result.events ?? [], audit: result.audit ?? [], jobs: result.jobs ?? [] };
}

/**
 * Answers a command whose retries ran out: a 500 stored in the inbox (so a redelivery gets the 500 again and
 * applies nothing) and recorded for delivery, in one transaction with `settle`.
 */
export async function recordExhausted(deps: ExecuteDeps, envelope: CommandEnvelope, options: ExecuteOptions): Promise<ExecutionResult> {
  const reply = buildReply(envelope, 500, { detail: 'The command failed after all retries.' }, deps.now?.() ?? new Date());
  try {
    return await deps.knex.transaction(async (trx) => {
      await options.settle?.(trx);
      const delivery = await recordOutcome(trx, deps, envelope, reply, options, [], []);
      return { reply, duplicate: false, jobs: [], delivery };
    });
  } catch (error) {
    if (isInboxConflict(error)) return duplicateOf(deps.knex, envelope, options);
    throw error;
  }
}

export function buildReply(address: { id: string; type: string; correlationId?: string | undefined }, status: number, body: unknown, now = new Date()): Reply {
  return {
    commandId: address.id,
    ...(address.correlationId !== undefined ? { correlationId: address.correlationId } : {}),
    type: address.type,
    status,
    body,
    processedAt: now.toISOString(),
  };
}

export const ID_MESSAGES = {
  taken: 'This command id was already used by a different command.',
  expired: 'The stored reply of this command has expired.',
} as const;

/**
 * A command whose id was answered before. Same fingerprint: the stored reply again (its status with an "expired"
 * body once the reply body is past retention). Another fingerprint: a 409, and the stored reply is never shown.
 * Recorded for delivery with `settle`, in one transaction.
 */
export async function duplicateOf(knex: Knex, envelope: CommandEnvelope, options: ExecuteOptions): Promise<ExecutionResult> {
  return knex.transaction(async (trx) => {
    const row = await answeredCommand(trx, envelope.id);
    if (!row) throw new Error(`inbox conflict on ${envelope.id} but no inbox row`);
    await options.settle?.(trx);
    const { reply, stored } = duplicateReply(row, envelope, options.fingerprint);
    const [delivery] = await insertReplyDeliveries(trx, [{ commandId: envelope.id, topic: options.replyTopic, reply, stored, traceparent: options.traceparent }]);
    return { reply, duplicate: true, jobs: [], delivery: delivery! };
  });
}

/**
 * The answer to a duplicate of an answered id (pure): the stored reply when the fingerprints match (`stored`:
 * the delivery points at the inbox's copy), its status with an "expired" body once the body is gone, a 409 when
 * another command used the id.
 */
export function duplicateReply(row: AnsweredCommand, envelope: Pick<CommandEnvelope, 'id' | 'type' | 'correlationId'>, fingerprint: string): { reply: Reply; stored: boolean } {
  const sameCommand = row.fingerprint === null || row.fingerprint === fingerprint;
  if (!sameCommand) return { reply: buildReply(envelope, 409, { detail: ID_MESSAGES.taken }), stored: false };
  if (row.reply === null) return { reply: buildReply({ id: envelope.id, type: row.type }, row.status, { detail: ID_MESSAGES.expired }, row.processedAt), stored: false };
  return { reply: row.reply, stored: true };
}

/** A failure as it is kept with a held command: its message, at most 1,000 characters. */
export function errorMessage(error: unknown): string {
  return String((error as Error)?.message ?? error).slice(0, 1000);
}

export function isInboxConflict(error: unknown): boolean {
  const e = error as { code?: string; constraint?: string; nativeError?: { code?: string; constraint?: string } };
  const code = e?.code ?? e?.nativeError?.code;
  const constraint = e?.constraint ?? e?.nativeError?.constraint;
  return code === '23505' && constraint === 'processed_commands_pkey';
}

/**
 * The record of a command that ran (applied, rejected, or answered 500): its audit rows, its events as outbox rows
 * (models/outbox.ts), its inbox row with the reply and fingerprint, and its reply's delivery, which points at the
 * inbox's copy of the reply; its events and reply in the trace `traceparent` (the command span's) when given.
 */
export function commandRecord(
  eventsTopic: string,
  envelope: CommandEnvelope,
  reply: Reply,
  { replyTopic, fingerprint, traceparent }: Pick<ExecuteOptions, 'replyTopic' | 'fingerprint' | 'traceparent'>,
  events: readonly EventDraft[],
  audit: readonly AuditDraft[],
): CommandRecord {
  const environmentKey = envelope.environment ?? null;
  return {
    commandId: envelope.id,
    audit: audit.map((a) => ({
      command_id: envelope.id,
      environment_key: environmentKey,
      actor_type: envelope.actor.type,
      actor_id: envelope.actor.id,
      action: a.action,
      resource_type: a.resourceType,
      resource_id: a.resourceId === null ? null : String(a.resourceId),
      before: a.before ?? null,
      after: a.after ?? null,
    })),
    outbox: events.map((draft) => {
      const environment = draft.environment === undefined ? environmentKey : draft.environment;
      const event = domainEvent({ type: draft.type, environment, occurredAt: reply.processedAt, commandId: envelope.id, actor: envelope.actor, data: draft.data });
      return outboxRow(eventsTopic, event, draft.key ?? environment, traceparent);
    }),
    inbox: { command_id: envelope.id, type: envelope.type, environment_key: environmentKey, status: reply.status, reply, reply_to: envelope.replyTo ?? null, fingerprint },
    reply,
    replyTopic,
    replyStored: true,
    traceparent,
  };
}

/** The event every rejected command publishes (DOMAIN.md), with the status and body it was answered. */
export const rejectionEvent = (rejection: CommandRejection): EventDraft => ({ type: 'command.rejected', data: { status: rejection.status, body: rejection.body } });

/** Writes one command's record in one statement (models/command-outcomes.ts); the outbox trigger wakes the relay at commit. */
async function recordOutcome(
  trx: Knex.Transaction,
  deps: ExecuteDeps,
  envelope: CommandEnvelope,
  reply: Reply,
  options: ExecuteOptions,
  events: EventDraft[],
  audit: AuditDraft[],
): Promise<ReplyDelivery> {
  const [delivery] = await writeCommandRecords(trx, [commandRecord(deps.config.EVENTS_TOPIC, envelope, reply, options, events, audit)]);
  return delivery!;
}
