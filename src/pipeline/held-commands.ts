import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { cappedExponentialBackoff } from '../domain/retry.js';
import {
  clearFailedCommand,
  failedCommand,
  heldCommand,
  heldHead,
  insertReplyDeliveries,
  moveHeldToFailed,
  recordHeldAttempt,
  releaseHeld,
  type HeldCommandRef,
  type StoredCommandMessage,
} from '../models/delivery-state.js';
import { buildReply, errorMessage, executeCommand, recordExhausted, type ExecuteOptions, type ExecutionResult } from './execute-command.js';
import { readCommand, type ReadOutcome } from './read-command.js';
import type { CommandPipeline, Handoff, PipelineConfig } from './command-pipeline.js';

export type HeldRunOutcome =
  | { kind: 'settled'; status: number }
  | { kind: 'retry'; attempts: number; error: string }
  | { kind: 'exhausted'; attempts: number; error: string }
  | { kind: 'replayed'; status: number }
  | { kind: 'waiting'; reason: string };

export interface HeldRunnerDeps {
  knex: Knex;
  config: PipelineConfig;
  pipeline: CommandPipeline;
  logger: Logger;
  metrics: Metrics;
}

/**
 * Runs a held command (the retry queue's job): only when it is the head of its key, so a key's commands settle
 * in the order they were produced. The message is read and its signature verified again from the stored bytes
 * on every attempt. Settling it (applied, rejected, duplicate, or 500 once its attempts are used up) releases
 * it in the same transaction, and the key's next held command is scheduled. A job for a command that is no
 * longer held but failed is an operator's replay: it runs the command for real and sends a new reply.
 */
export async function runHeldCommand(deps: HeldRunnerDeps, ref: Pick<HeldCommandRef, 'heldId' | 'commandId'>): Promise<HeldRunOutcome> {
  const { knex, pipeline } = deps;
  const held = await heldCommand(knex, ref.heldId);
  if (!held || held.commandId !== ref.commandId) {
    const failed = await failedCommand(knex, ref.commandId);
    if (failed) return replayFailed(deps, failed);
    return { kind: 'waiting', reason: 'no longer held (settled already)' };
  }
  const head = await heldHead(knex, held.messageKey);
  if (head && head.heldId !== held.id) {
    await pipeline.handOff({ deliveries: [], jobs: [], held: [head] });
    return { kind: 'waiting', reason: 'an earlier command of its key is still held' };
  }

  const release = (trx: Knex.Transaction) => releaseHeld(trx, held.id);
  const read = readStored(deps, held);
  if (read.kind !== 'command') {
    const settled = await answerUnreadable(deps, held, read, release);
    await handOffWithNext(deps, held.messageKey, settled.handoff);
    return { kind: 'settled', status: settled.status };
  }
  const { envelope, handler, fingerprint } = read;
  const options: ExecuteOptions = { replyTopic: envelope.replyTo ?? deps.config.REPLIES_TOPIC, fingerprint, settle: release, traceparent: read.trace?.traceparent };
  try {
    // Each attempt is a span of the command's trace, as the first one was (command-pipeline.ts).
    const traced = { id: envelope.id, type: envelope.type, key: held.messageKey, environment: envelope.environment, trace: read.trace };
    const execution = await pipeline.tracing.command(
      traced,
      (traceparent) => executeCommand({ knex, config: deps.config }, envelope, handler, { ...options, traceparent }),
      (e) => e.reply.status,
    );
    await handOffWithNext(deps, held.messageKey, handoffOf(execution));
    deps.logger.info({ commandId: envelope.id, attempt: held.attempts + 1, status: execution.reply.status }, 'held command settled');
    deps.metrics.commands.inc({ type: envelope.type, status: String(execution.reply.status) });
    return { kind: 'settled', status: execution.reply.status };
  } catch (error) {
    const message = errorMessage(error);
    const nextAt = new Date(Date.now() + cappedExponentialBackoff(held.attempts + 1, deps.config.COMMAND_RETRY_BACKOFF_MS, 5 * 60_000));
    const attempts = await recordHeldAttempt(knex, held.id, message, nextAt);
    if (attempts < deps.config.COMMAND_RETRY_ATTEMPTS) return { kind: 'retry', attempts, error: message };
    const execution = await recordExhausted({ knex, config: deps.config }, envelope, { ...options, settle: (trx) => moveHeldToFailed(trx, held.id) });
    await handOffWithNext(deps, held.messageKey, handoffOf(execution));
    deps.logger.error({ commandId: envelope.id, type: envelope.type, attempts, error: message }, 'command failed after all retries; answered 500');
    deps.metrics.commands.inc({ type: envelope.type, status: '500' });
    return { kind: 'exhausted', attempts, error: message };
  }
}

/** An operator's replay of a command answered 500: its 500 gives way to the real outcome and a new reply. */
async function replayFailed(deps: HeldRunnerDeps, failed: StoredCommandMessage): Promise<HeldRunOutcome> {
  const clear = (trx: Knex.Transaction) => clearFailedCommand(trx, failed.commandId);
  const read = readStored(deps, failed);
  if (read.kind !== 'command') {
    const settled = await answerUnreadable(deps, failed, read, clear);
    await deps.pipeline.handOff(settled.handoff);
    return { kind: 'replayed', status: settled.status };
  }
  const { envelope, handler, fingerprint } = read;
  const execution = await executeCommand({ knex: deps.knex, config: deps.config }, envelope, handler, {
    replyTopic: envelope.replyTo ?? deps.config.REPLIES_TOPIC,
    fingerprint,
    settle: clear,
    traceparent: read.trace?.traceparent,
  });
  await deps.pipeline.handOff(handoffOf(execution));
  deps.logger.info({ commandId: envelope.id, status: execution.reply.status }, 'failed command replayed');
  return { kind: 'replayed', status: execution.reply.status };
}

/** Reads a stored message again, verifying its signature with the keys configured now. */
function readStored(deps: HeldRunnerDeps, message: StoredCommandMessage): ReadOutcome {
  return readCommand({ value: message.value, headers: message.headers }, deps.pipeline.readPolicy);
}

/**
 * A stored message that no longer reads as a command (its signing key was removed, say) is answered with that
 * rejection, in one transaction with `settle`.
 */
async function answerUnreadable(
  deps: HeldRunnerDeps,
  message: StoredCommandMessage,
  outcome: Exclude<ReadOutcome, { kind: 'command' }>,
  settle: (trx: Knex.Transaction) => Promise<void>,
): Promise<{ status: number; handoff: Handoff }> {
  const status = outcome.kind === 'reject' ? outcome.status : 400;
  const body = outcome.kind === 'reject' ? outcome.body : { detail: outcome.reason };
  const reply = buildReply({ id: message.commandId, type: outcome.kind === 'reject' ? outcome.address.type : 'unknown' }, status, body);
  const topic = (outcome.kind === 'reject' ? outcome.address.replyTo : undefined) ?? deps.config.REPLIES_TOPIC;
  const deliveries = await deps.knex.transaction(async (trx) => {
    await settle(trx);
    return insertReplyDeliveries(trx, [{ commandId: message.commandId, topic, reply, stored: false, traceparent: outcome.kind === 'reject' ? outcome.trace?.traceparent : undefined }]);
  });
  deps.logger.warn({ commandId: message.commandId, status, body }, 'stored command no longer reads as a command; answered with the rejection');
  return { status, handoff: { deliveries, jobs: [], held: [] } };
}

const handoffOf = (execution: ExecutionResult): Handoff => ({ deliveries: [execution.delivery], jobs: execution.jobs, held: [] });

async function handOffWithNext(deps: HeldRunnerDeps, messageKey: string, handoff: Handoff): Promise<void> {
  const next = await heldHead(deps.knex, messageKey).catch(() => null); // the reconciler finds it otherwise
  await deps.pipeline.handOff({ ...handoff, held: next ? [next] : [] });
}
