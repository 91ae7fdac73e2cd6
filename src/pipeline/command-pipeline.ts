import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { CommandEnvelope } from '../contracts/envelope.js';
import type { CommandHandler, JobDraft } from '../handlers/types.js';
import { handlers as defaultHandlers } from '../handlers/registry.js';
import { cappedExponentialBackoff, isTransientError } from '../domain/retry.js';
import { holdCommand, insertReplyDeliveries, type HeldCommandRef, type ReplyDelivery, type StoredCommandMessage } from '../models/delivery-state.js';
import { buildReply, duplicateOf, errorMessage, executeCommand, isInboxConflict, type ExecutionResult } from './execute-command.js';
import { applyGroup, GroupAbandoned, type GroupCommand, type GroupResult } from './command-group.js';
import { stretchState, type CommandRecord, type StretchState } from '../models/command-outcomes.js';
import { commandReadPolicy, readCommand, type CommandReadPolicy, type ReadOutcome } from './read-command.js';
import { pauseWithHeartbeat, retryInPlace, type BatchControl } from './retry-in-place.js';
import { untracedCommands, type CommandTracing, type DeadLetter, type PipelinePorts } from './ports.js';

/** One commands-topic message as the transport hands it over. */
export interface InboundMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string | undefined>;
}

export type PipelineConfig = Pick<
  Config,
  | 'COMMAND_KEYS'
  | 'REPLIES_TOPIC'
  | 'EVENTS_TOPIC'
  | 'RESULTS_REFRESH_MIN_INTERVAL_S'
  | 'CUPED_LOOKBACK_DAYS'
  | 'COMMAND_INPLACE_RETRY_MS'
  | 'COMMAND_RETRY_ATTEMPTS'
  | 'COMMAND_RETRY_BACKOFF_MS'
  | 'COMMAND_MAX_BYTES'
  | 'REPLY_TOPIC_PATTERN'
  | 'COMMANDS_TOPIC'
  | 'TRACKING_TOPIC'
  | 'DLQ_TOPIC'
  | 'TRACKING_DLQ_TOPIC'
  | 'COMMAND_GROUP_SIZE'
  | 'COMMAND_GROUP_LOCK_TIMEOUT_MS'
  | 'COMMAND_LOCK_TIMEOUT_MS'
>;

/** Runs a step again and again in place until it succeeds (retry-in-place.ts). */
type Durably = <T>(what: string, work: () => Promise<T>) => Promise<T>;

/** A message of a stretch, read once (read-command.ts), with its ordering key and when it was read. */
interface ReadMessage {
  message: InboundMessage;
  key: string;
  outcome: ReadOutcome;
  started: bigint;
}

export interface CommandPipelineDeps {
  knex: Knex;
  config: PipelineConfig;
  ports: PipelinePorts;
  logger: Logger;
  metrics: Metrics;
  handlers?: ReadonlyMap<string, CommandHandler>;
  /** Called when handing work to the queues failed: Postgres has it, the reconciler should look soon. */
  onHandoffFailure?: () => void;
  /** A span per executed command (src/telemetry); without it, trace contexts are only passed on. */
  tracing?: CommandTracing;
}

/** What a stretch (or a held command) leaves for the queues once its outcomes are in Postgres. */
export interface Handoff {
  deliveries: ReplyDelivery[];
  jobs: JobDraft[];
  held: HeldCommandRef[];
}

/** The message key that orders commands: commands with the same key are applied in the order produced. */
export const orderingKey = (key: Buffer | null): string => key?.toString('utf8') ?? '';

export function storedMessage(message: InboundMessage, envelope: Pick<CommandEnvelope, 'id' | 'type'>): StoredCommandMessage {
  return { commandId: envelope.id, commandType: envelope.type, messageKey: orderingKey(message.key), sourceTopic: message.topic, value: message.value ?? Buffer.alloc(0), headers: message.headers };
}

/**
 * Turns a stretch of commands-topic messages into durable outcomes, in per-key order (CONTRACT.md "Order and
 * durability"). The ready commands are applied in stretch order, in groups of COMMAND_GROUP_SIZE sharing one
 * transaction (command-group.ts); a group that fails as a whole runs one command at a time instead: there each
 * key's lane runs one message at a time, different keys side by side. `processStretch` resolves once every outcome is in Postgres (or the DLQ topic), so the consumer may
 * commit the stretch's offsets; it then hands the replies, jobs and held commands to the queues, best effort:
 * what the queues miss, the reconciler gives them again from Postgres.
 *
 * A transient failure is retried in place (heartbeating) for up to COMMAND_INPLACE_RETRY_MS; then the command
 * is held in Postgres and the key's later commands queue behind it (held too, in order) until the retry queue
 * settles it. While Postgres itself is down nothing can be held, so the lane keeps retrying in place and the
 * offsets stay uncommitted: Kafka keeps the messages meanwhile.
 */
export class CommandPipeline {
  readonly handlers: ReadonlyMap<string, CommandHandler>;
  /** How messages are read, here and when a held command is read again. */
  readonly readPolicy: CommandReadPolicy;
  readonly tracing: CommandTracing;
  constructor(private readonly deps: CommandPipelineDeps) {
    this.handlers = deps.handlers ?? defaultHandlers;
    this.tracing = deps.tracing ?? untracedCommands;
    this.readPolicy = commandReadPolicy(deps.config, this.handlers);
  }

  async processStretch(messages: InboundMessage[], control: BatchControl): Promise<void> {
    const { knex, ports } = this.deps;
    // Each failed step counts as a retry of the stretch's commands.
    const durably: Durably = (what, work) =>
      retryInPlace(what, work, { ...control, logger: this.deps.logger, capMs: 5000, beforeRetry: () => this.deps.metrics.commandRetries.inc() });
    const read: ReadMessage[] = messages.map((message) => ({
      message,
      key: orderingKey(message.key),
      outcome: readCommand({ value: message.value, headers: message.headers }, this.readPolicy),
      started: process.hrtime.bigint(),
    }));
    const letters = read.flatMap(({ message, outcome }): DeadLetter[] =>
      outcome.kind === 'dlq' ? [{ sourceTopic: message.topic, partition: message.partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers, reason: outcome.reason }] : [],
    );
    if (letters.length) await durably('send unreadable commands to the DLQ', () => ports.deadLetters.send(letters));
    const live = read.filter((r) => r.outcome.kind !== 'dlq');
    const ids = live.flatMap((r) => (r.outcome.kind === 'command' ? [r.outcome.envelope.id] : []));
    const state = await durably('look up held keys and answered ids', () => stretchState(knex, [...new Set(live.map((r) => r.key))], ids));
    const handoff: Handoff = { deliveries: [], jobs: [], held: [] };
    let stopped: unknown;
    try {
      const groupSize = this.deps.config.COMMAND_GROUP_SIZE;
      for (let start = 0; start < live.length; start += groupSize) {
        const chunk = live.slice(start, start + groupSize);
        if (groupSize === 1 || !(await this.applyAsGroup(chunk, state, handoff))) await this.runLanes(chunk, state.heldKeys, control, handoff, durably);
      }
    } catch (error) {
      stopped = error;
    }
    // Hand over what did commit even when stopping: it is in Postgres either way.
    await this.handOff(handoff);
    if (stopped) throw stopped;
  }

  /**
   * Applies a chunk of the stretch as one group (command-group.ts). False when the group was rolled back whole:
   * the caller then runs its commands one at a time under the single-command rules.
   */
  private async applyAsGroup(chunk: ReadMessage[], state: StretchState, handoff: Handoff): Promise<boolean> {
    const { config, logger } = this.deps;
    const early: CommandRecord[] = [];
    const commands: Array<GroupCommand & { started: bigint }> = [];
    const rejected: Array<{ type: string; status: number; started: bigint }> = [];
    for (const r of chunk) {
      if (r.outcome.kind === 'reject') {
        const { address, status, body } = r.outcome;
        const reply = buildReply({ id: address.commandId, type: address.type, correlationId: address.correlationId }, status, body);
        const traceparent = r.outcome.trace?.traceparent;
        early.push({ commandId: address.commandId, audit: [], outbox: [], inbox: null, reply, replyTopic: address.replyTo ?? config.REPLIES_TOPIC, replyStored: false, traceparent });
        rejected.push({ type: address.type, status, started: r.started });
        logger.info({ commandId: address.commandId, status, body }, 'command rejected before execution');
      } else if (r.outcome.kind === 'command') {
        const { envelope, handler, fingerprint, trace } = r.outcome;
        commands.push({ key: r.key, envelope, handler, fingerprint, stored: storedMessage(r.message, envelope), trace, started: r.started });
      }
    }
    if (!commands.length && !early.length) return true;
    let result: GroupResult;
    try {
      const lockTimeoutMs = Math.min(config.COMMAND_GROUP_LOCK_TIMEOUT_MS, config.COMMAND_LOCK_TIMEOUT_MS);
      const deps = { knex: this.deps.knex, config, logger, lockTimeoutMs, replyTopicOf: (e: { replyTo?: string | undefined }) => e.replyTo ?? config.REPLIES_TOPIC, tracing: this.tracing };
      result = await applyGroup(deps, commands, early, state);
    } catch (error) {
      // Expected now and then: a race on an id, a command waiting on a lock (the group's short lock_timeout).
      const routine = isInboxConflict(error) || error instanceof GroupAbandoned || (error as { code?: string })?.code === '55P03';
      logger[routine ? 'info' : 'warn']({ err: error, commands: commands.length }, 'group commit rolled back; running its commands one at a time');
      return false;
    }
    handoff.deliveries.push(...result.deliveries);
    handoff.jobs.push(...result.jobs);
    handoff.held.push(...result.held);
    for (const r of rejected) this.observe(r.type, r.status, r.started);
    commands.forEach((c, i) => {
      const status = result.statuses[i];
      if (status === undefined) state.heldKeys.add(c.key);
      else this.observe(c.envelope.type, status, c.started);
    });
    return true;
  }

  /** The single-command path: each key a lane of one command at a time, keys side by side. */
  private async runLanes(chunk: ReadMessage[], heldKeys: Set<string>, control: BatchControl, handoff: Handoff, durably: Durably): Promise<void> {
    const lanes = new Map<string, ReadMessage[]>();
    for (const r of chunk) {
      const lane = lanes.get(r.key);
      if (lane) lane.push(r);
      else lanes.set(r.key, [r]);
    }
    const settled = await Promise.allSettled([...lanes].map(([key, lane]) => this.runLane(lane, heldKeys, key, control, handoff, durably)));
    const stopped = settled.find((s) => s.status === 'rejected');
    if (stopped) throw (stopped as PromiseRejectedResult).reason;
  }

  /** Gives recorded work to the queues; a failure is logged and left to the reconciler. */
  async handOff(handoff: Handoff): Promise<void> {
    const { ports, logger } = this.deps;
    const steps: Array<[string, () => Promise<void>]> = [
      ['queue replies', () => ports.replies.enqueue(handoff.deliveries)],
      ['queue jobs', () => ports.jobs.enqueue(handoff.jobs)],
      ['schedule held commands', () => ports.retries.schedule(handoff.held)],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error, what }, `could not ${what}; the reconciler will, from Postgres`);
        this.deps.onHandoffFailure?.();
      }
    }
  }

  private async runLane(lane: ReadMessage[], heldKeys: Set<string>, key: string, control: BatchControl, handoff: Handoff, durably: Durably): Promise<void> {
    const { config, logger } = this.deps;
    for (const { message, outcome, started } of lane) {
      if (outcome.kind === 'dlq') continue; // sent for the whole stretch already
      if (outcome.kind === 'reject') {
        const { address } = outcome;
        const reply = buildReply({ id: address.commandId, type: address.type, correlationId: address.correlationId }, outcome.status, outcome.body);
        const topic = address.replyTo ?? config.REPLIES_TOPIC;
        const draft = { commandId: address.commandId, topic, reply, stored: false, traceparent: outcome.trace?.traceparent };
        const [delivery] = await durably('record a rejection reply', () => insertReplyDeliveries(this.deps.knex, [draft]));
        handoff.deliveries.push(delivery!);
        logger.info({ commandId: address.commandId, status: outcome.status, body: outcome.body }, 'command rejected before execution');
        this.observe(address.type, outcome.status, started);
        continue;
      }
      const { envelope, handler, fingerprint } = outcome;
      if (heldKeys.has(key)) {
        const ref = await durably('hold a command behind its key', () => holdCommand(this.deps.knex, storedMessage(message, envelope), 'waiting behind an earlier command of its key'));
        if (ref) handoff.held.push(ref);
        // Already answered: a duplicate applies nothing, so it need not wait; it gets the stored reply.
        else handoff.deliveries.push((await durably('answer a duplicate', () => this.answerDuplicate(envelope, fingerprint, outcome.trace?.traceparent))).delivery);
        continue;
      }
      const traced = { id: envelope.id, type: envelope.type, key, environment: envelope.environment, trace: outcome.trace };
      const result = await this.tracing.command(
        traced,
        (traceparent) => this.executeInPlace(message, outcome, control, traceparent),
        (r) => (r.kind === 'executed' ? r.execution.reply.status : undefined),
      );
      if (result.kind === 'held') {
        heldKeys.add(key);
        handoff.held.push(result.ref);
        continue;
      }
      handoff.deliveries.push(result.execution.delivery);
      handoff.jobs.push(...result.execution.jobs);
      logger.debug({ commandId: envelope.id, type: envelope.type, status: result.execution.reply.status, duplicate: result.execution.duplicate }, 'command answered');
      this.observe(envelope.type, result.execution.reply.status, started);
    }
  }

  /** Executes a command, retrying in place; holds it in Postgres once the in-place window is used up. */
  private async executeInPlace(
    message: InboundMessage,
    { envelope, handler, fingerprint }: Extract<ReadOutcome, { kind: 'command' }>,
    control: BatchControl,
    traceparent: string | undefined,
  ): Promise<{ kind: 'executed'; execution: ExecutionResult } | { kind: 'held'; ref: HeldCommandRef }> {
    const { config, logger, metrics } = this.deps;
    const options = { replyTopic: envelope.replyTo ?? config.REPLIES_TOPIC, fingerprint, traceparent };
    const since = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return { kind: 'executed', execution: await executeCommand({ knex: this.deps.knex, config }, envelope, handler, options) };
      } catch (error) {
        metrics.commandRetries.inc();
        const transient = isTransientError(error);
        if (!transient || Date.now() - since >= config.COMMAND_INPLACE_RETRY_MS) {
          try {
            const ref = await holdCommand(this.deps.knex, storedMessage(message, envelope), errorMessage(error));
            if (ref) {
              logger.warn({ commandId: envelope.id, type: envelope.type, err: error }, 'command failed; held in Postgres for the retry queue, its key waits behind it');
              return { kind: 'held', ref };
            }
            // Answered before (a redelivery): the stored reply, without running the handler again.
            return { kind: 'executed', execution: await this.answerDuplicate(envelope, fingerprint, traceparent) };
          } catch (holdError) {
            logger.warn({ commandId: envelope.id, err: holdError }, 'could not hold the command either (Postgres down?); retrying in place');
          }
        } else {
          logger.warn({ commandId: envelope.id, type: envelope.type, attempt, err: error }, 'command failed; retrying in place');
        }
        await pauseWithHeartbeat(cappedExponentialBackoff(attempt, 100, 2000), control, `run command ${envelope.id}`);
      }
    }
  }

  private answerDuplicate(envelope: CommandEnvelope, fingerprint: string, traceparent: string | undefined): Promise<ExecutionResult> {
    return duplicateOf(this.deps.knex, envelope, { replyTopic: envelope.replyTo ?? this.deps.config.REPLIES_TOPIC, fingerprint, traceparent });
  }

  private observe(type: string, status: number, started: bigint): void {
    // Only known types become label values: unauthenticated input must not grow /metrics.
    this.deps.metrics.commands.inc({ type: this.handlers.has(type) ? type : 'unknown', status: String(status) });
    this.deps.metrics.commandDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
