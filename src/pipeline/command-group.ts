import type { CommandEnvelope } from '../contracts/envelope.js';
import type { Logger } from '../logger.js';
import { authorizeEnvironment, authorizeEnvironments, pairKey } from '../handlers/authorize.js';
import { CommandRejection, forbidden, type CommandHandler, type EnvironmentScope, type JobDraft } from '../handlers/types.js';
import { isTransientError } from '../domain/retry.js';
import { writeCommandRecords, type AnsweredCommand, type CommandRecord, type StretchState } from '../models/command-outcomes.js';
import { holdCommand, type HeldCommandRef, type ReplyDelivery, type StoredCommandMessage } from '../models/delivery-state.js';
import type { TraceContext } from '../contracts/trace-context.js';
import { buildReply, commandRecord, duplicateReply, errorMessage, isInboxConflict, rejectionEvent, runHandler, type Authorise, type ExecuteDeps } from './execute-command.js';
import { untracedCommands, type CommandTracing } from './ports.js';

// Group commit: the ready commands of a stretch (of several keys) applied in ONE transaction, in stretch order,
// each in a savepoint of its own, their rows written together at the end.
//
// Design (README "Delivery and ordering guarantees"):
// - before the group, one statement finds the stretch's held keys and its ids answered before (models/
//   command-outcomes.ts, `stretchState`); a duplicate of those, or of an id answered earlier in the group, runs
//   nothing and is answered from the inbox row (same fingerprint: the stored reply; another: 409);
// - each command runs in the savepoint `cmd` (authorisation, payload, handler): a rejection rolls back to it and
//   is recorded instead (reply, inbox row, `command.rejected` event), a handler failing for good (a bug) rolls
//   back to it and is held, with its key's later commands of the group behind it, as a single command would be;
// - at the end ONE statement writes every audit row, outbox row, inbox row and reply delivery of the group (rows
//   as JSON parameters), then one commit. The statement count is the stretch look-up, begin, one savepoint per
//   command, what the handlers need, the record statement and the commit;
// - a concurrent worker racing on an id that was not answered yet when the group began is still settled by the
//   inbox primary key: the record statement waits on the other transaction's row and fails when it commits. Any
//   failure of the group as a whole (that, or a transient error: serialization, deadlock, lock or statement
//   timeout, connection loss) rolls the group back whole, and the caller runs its commands one at a time under
//   the single-command rules (in-place retry, then hold; inbox conflict → stored reply), so per-key order and
//   the hold rule are those of a single command;
// - each command that runs has its own span (ports.ts CommandTracing), child of its message's traceparent, around
//   its savepoint and handler; its record carries that span's traceparent to its outbox headers and its reply
//   delivery. The record statement and the COMMIT are the group's, in no command's span.

/** One ready command of a group: what travels from its message to its rows. */
export interface GroupCommand {
  key: string;
  envelope: CommandEnvelope;
  handler: CommandHandler;
  fingerprint: string;
  /** The message as it is held, should it need to be. */
  stored: StoredCommandMessage;
  /** The message's trace context (its traceparent header), when it has one. */
  trace?: TraceContext | undefined;
}

export interface GroupDeps extends ExecuteDeps {
  replyTopicOf: (envelope: Pick<CommandEnvelope, 'replyTo'>) => string;
  /**
   * lock_timeout of the group's transaction: a command waiting on a row lock would hold its whole group (other
   * keys) until it gets the lock, so it fails the group instead, and the one-at-a-time path lets the others go.
   */
  lockTimeoutMs: number;
  logger: Logger;
  /** A span per command that runs; without it, trace contexts are only passed on. */
  tracing?: CommandTracing;
}

export interface GroupResult {
  deliveries: ReplyDelivery[];
  jobs: JobDraft[];
  held: HeldCommandRef[];
  /** Each command's answer status (undefined: held), in the order of the group's commands. */
  statuses: Array<number | undefined>;
}

/** What one command that ran in the group leaves: its record and jobs, or its hold (a handler failing for good). */
type CommandStep = { record: CommandRecord; jobs: JobDraft[] } | { held: HeldCommandRef };

/** Thrown when the group cannot be settled as a group; its transaction is rolled back whole. */
export class GroupAbandoned extends Error {}

/**
 * A command failed after changing something, in a group run without savepoints: the group runs again with them.
 * A failure that is not a rejection (`heldFor`) is not run again there but held at once, as it would have been
 * (running it again would, for one, wait for a lock a second time).
 */
class NeedsSavepoints extends Error {
  constructor(
    readonly commandId: string,
    readonly heldFor?: string,
  ) {
    super(`${commandId} failed after changing something`);
  }
}

/**
 * Applies `commands` (in order; keys in `heldKeys` queue behind their held commands, and the set grows with the
 * keys the group holds) and records `early` (replies to messages rejected before execution) in one transaction.
 * Throws when the group must be redone one command at a time; nothing of it is then committed.
 *
 * The group first runs without a savepoint per command (a round trip each): a command that is rejected, or fails,
 * having sent nothing but successful SELECTs has nothing to undo, so it needs none (authorisation, payload and
 * existence checks all come before a handler's first write). Only when a command fails after a write or a failed
 * statement is the transaction rolled back and the group run again, a savepoint per command, as before.
 */
export async function applyGroup(deps: GroupDeps, commands: readonly GroupCommand[], early: readonly CommandRecord[], state: StretchState): Promise<GroupResult> {
  try {
    return await attemptGroup(deps, commands, early, state, false);
  } catch (error) {
    if (!(error instanceof NeedsSavepoints)) throw error;
    deps.logger.debug({ reason: error.message }, 'group runs again with a savepoint per command');
    return attemptGroup(deps, commands, early, state, true, error.heldFor === undefined ? undefined : { commandId: error.commandId, reason: error.heldFor });
  }
}

async function attemptGroup(
  deps: GroupDeps,
  commands: readonly GroupCommand[],
  early: readonly CommandRecord[],
  state: StretchState,
  savepoints: boolean,
  failedBefore?: { commandId: string; reason: string },
): Promise<GroupResult> {
  const now = deps.now?.() ?? new Date();
  const tracing = deps.tracing ?? untracedCommands;
  const heldKeys = new Set(state.heldKeys);
  const result = await deps.knex.transaction(async (trx) => {
    const records: CommandRecord[] = [...early];
    const jobs: JobDraft[] = [];
    const held: HeldCommandRef[] = [];
    const statuses: Array<number | undefined> = [];
    const answeredHere = new Map<string, AnsweredCommand>();
    // What the transaction has sent: a command failing without a savepoint may be recorded in place only if it
    // sent nothing but SELECTs and none of them failed (a failed statement aborts the transaction).
    const sent = { changes: 0, failures: 0 };
    trx.on('query', (q: { sql?: string }) => {
      if (!/^\s*select\b/i.test(q.sql ?? '')) sent.changes++;
    });
    trx.on('query-error', () => sent.failures++);
    // Authorisation per (environment, actor) holds for the whole group unless a platform command (which may
    // change environments, organisations or grants) runs in it: then it is asked again. The group's pairs are
    // asked in one statement up front, which also sets the group's lock_timeout.
    const pairs = new Map<string, { environmentKey: string; actor: CommandEnvelope['actor'] }>();
    for (const { envelope, handler } of commands) {
      if (handler.scope === 'environment' && envelope.environment) pairs.set(pairKey(envelope.environment, envelope.actor), { environmentKey: envelope.environment, actor: envelope.actor });
    }
    const scopes = await authorizeEnvironments(trx, [...pairs.values()], deps.lockTimeoutMs);
    const authorise = cachedAuthorise(scopes);
    let inSavepoint = false;
    for (const command of commands) {
      const { envelope, fingerprint } = command;
      const replyTopic = deps.replyTopicOf(envelope);
      const earlier = state.answered.get(envelope.id) ?? answeredHere.get(envelope.id);
      if (earlier) {
        const { reply, stored } = duplicateReply(earlier, envelope, fingerprint);
        records.push({ commandId: envelope.id, audit: [], outbox: [], inbox: null, reply, replyTopic, replyStored: stored, traceparent: command.trace?.traceparent });
        statuses.push(reply.status);
        continue;
      }
      if (heldKeys.has(command.key)) {
        const ref = await holdCommand(trx, command.stored, 'waiting behind an earlier command of its key');
        // Answered by another worker since the look-up: the single-command rules answer it.
        if (!ref) throw new GroupAbandoned(`${envelope.id} was answered meanwhile`);
        held.push(ref);
        statuses.push(undefined);
        continue;
      }
      const traced = { id: envelope.id, type: envelope.type, key: command.key, environment: envelope.environment, trace: command.trace };
      const step = await tracing.command(
        traced,
        async (traceparent): Promise<CommandStep> => {
          if (savepoints) {
            await trx.raw(inSavepoint ? 'release savepoint cmd; savepoint cmd' : 'savepoint cmd');
            inSavepoint = true;
          }
          const before = { ...sent };
          const options = { replyTopic, fingerprint, traceparent };
          const hold = async (reason: string): Promise<CommandStep> => {
            const ref = await holdCommand(trx, command.stored, reason);
            if (!ref) throw new GroupAbandoned(`${envelope.id} was answered meanwhile`);
            return { held: ref };
          };
          if (failedBefore?.commandId === envelope.id) {
            deps.logger.warn({ commandId: envelope.id, type: envelope.type, err: failedBefore.reason }, 'command failed; held in Postgres for the retry queue, its key waits behind it');
            return hold(failedBefore.reason);
          }
          try {
            const outcome = await runHandler(trx, deps, envelope, command.handler, now, authorise);
            return { record: commandRecord(deps.config.EVENTS_TOPIC, envelope, outcome.reply, options, outcome.events, outcome.audit), jobs: outcome.jobs };
          } catch (error) {
            if (isTransientError(error) || isInboxConflict(error)) throw error;
            const reason = errorMessage(error);
            if (savepoints) await trx.raw('rollback to savepoint cmd');
            else if (sent.changes !== before.changes || sent.failures !== before.failures) {
              throw new NeedsSavepoints(envelope.id, error instanceof CommandRejection ? undefined : reason);
            }
            if (error instanceof CommandRejection) {
              const reply = buildReply(envelope, error.status, error.body, now);
              return { record: commandRecord(deps.config.EVENTS_TOPIC, envelope, reply, options, [rejectionEvent(error)], []), jobs: [] };
            }
            // A bug, not a rejection: held at once (its key waits behind it), as a single command would be.
            deps.logger.warn({ commandId: envelope.id, type: envelope.type, err: error }, 'command failed; held in Postgres for the retry queue, its key waits behind it');
            return hold(reason);
          } finally {
            if (command.handler.scope === 'platform') scopes.clear();
          }
        },
        (step) => ('record' in step ? step.record.reply.status : undefined),
      );
      if ('held' in step) {
        held.push(step.held);
        heldKeys.add(command.key);
        statuses.push(undefined);
        continue;
      }
      const { record } = step;
      jobs.push(...step.jobs);
      records.push(record);
      answeredHere.set(envelope.id, { commandId: envelope.id, type: envelope.type, status: record.reply.status, reply: record.reply, fingerprint, processedAt: now });
      statuses.push(record.reply.status);
    }
    const deliveries = await writeCommandRecords(trx, records);
    return { deliveries, jobs, held, statuses };
  });
  return result;
}

/**
 * Authorisation per (environment, actor), from the group's up-front answers (null: its 403) or, once a platform
 * command has cleared them, asked again one pair at a time.
 */
function cachedAuthorise(scopes: Map<string, EnvironmentScope | null>): Authorise {
  return async (trx, environmentKey, actor) => {
    const key = pairKey(environmentKey, actor);
    const known = scopes.get(key);
    if (known === null) throw forbidden();
    if (known) return known;
    const scope = await authorizeEnvironment(trx, environmentKey, actor);
    scopes.set(key, scope);
    return scope;
  };
}
