import type { Knex } from 'knex';
import type { Producer, IHeaders } from 'kafkajs';
import type { Queue } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { CommandEnvelope, Reply } from '../contracts/envelope.js';
import type { CommandHandler, JobDraft } from '../handlers/types.js';
import { handlers as defaultHandlers } from '../handlers/registry.js';
import { buildReply, executeCommand } from './execute-command.js';
import { readCommand, type RawCommandMessage } from './read-command.js';
import { commandRetryJobId, commandRetryJobOptions, replyJobOptions, type OutgoingReply, type Queues } from '../jobs/queues.js';

export interface KafkaCommandMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: IHeaders;
}

export interface CommandProcessorDeps {
  knex: Knex;
  config: Config;
  queues: Pick<Queues, 'replies' | 'commandRetries' | 'results'>;
  producer: Producer;
  logger: Logger;
  metrics: Metrics;
  handlers?: ReadonlyMap<string, CommandHandler>;
}

/**
 * What the consumer does with one commands-topic message. `process` returns the replies to send; once the
 * consumer has queued them (`queueReplies`), the message's outcome is durable (its change and reply in
 * Postgres, or its early rejection in the reply queue, or its raw bytes in the DLQ topic, or the command in
 * the retry queue) and its offset may be committed. It throws only when the outcome could not be made
 * durable; the consumer then tries the same message again without committing.
 */
export class CommandProcessor {
  private readonly handlers: ReadonlyMap<string, CommandHandler>;
  constructor(private readonly deps: CommandProcessorDeps) {
    this.handlers = deps.handlers ?? defaultHandlers;
  }

  async process(message: KafkaCommandMessage): Promise<OutgoingReply[]> {
    const started = process.hrtime.bigint();
    const { config, logger } = this.deps;
    const raw: RawCommandMessage = { value: message.value, headers: stringHeaders(message.headers) };
    const outcome = readCommand(raw, config.COMMAND_KEYS, this.handlers);

    if (outcome.kind === 'dlq') {
      await this.sendToDlq(message, outcome.reason);
      return [];
    }
    if (outcome.kind === 'reject') {
      const { address } = outcome;
      const reply = buildReply({ id: address.commandId, type: address.type, correlationId: address.correlationId }, outcome.status, outcome.body);
      logger.info({ commandId: address.commandId, status: outcome.status, body: outcome.body }, 'command rejected before execution');
      this.observe(address.type, outcome.status, started);
      return [{ topic: address.replyTo ?? config.REPLIES_TOPIC, reply }];
    }

    const { envelope, handler } = outcome;
    const replyTopic = envelope.replyTo ?? config.REPLIES_TOPIC;
    try {
      const result = await executeCommand({ knex: this.deps.knex, config }, envelope, handler);
      await this.queueJobs(result.jobs);
      logger.debug({ commandId: envelope.id, type: envelope.type, status: result.reply.status, duplicate: result.duplicate }, 'command answered');
      this.observe(envelope.type, result.reply.status, started);
      return [{ topic: replyTopic, reply: result.reply }];
    } catch (error) {
      // Anything not answered by a rule is treated as a passing failure: the command goes to the retry queue
      // (bounded attempts, then a 500), so this partition moves on.
      logger.warn({ commandId: envelope.id, type: envelope.type, err: error }, 'command failed; handing it to the retry queue');
      await this.queueRetry(envelope, replyTopic, error);
      return [];
    }
  }

  /** Queues replies as one job; `jobId` names what they answer, so queuing the same stretch twice is a no-op. */
  async queueReplies(replies: OutgoingReply[], jobId: string): Promise<void> {
    if (replies.length) await this.deps.queues.replies.add('replies', { replies }, { ...replyJobOptions, jobId });
  }

  /** Runs a command taken from the retry queue; throws to let BullMQ retry it. */
  async retry(envelope: CommandEnvelope, replyTopic: string, attempt: number): Promise<Reply> {
    const handler = this.handlers.get(envelope.type);
    if (!handler) throw new Error(`no handler for ${envelope.type}`);
    const result = await executeCommand({ knex: this.deps.knex, config: this.deps.config }, envelope, handler);
    await this.queueReplies([{ topic: replyTopic, reply: result.reply }], `reply-${envelope.id}-retry-${attempt}-${Date.now()}`);
    await this.queueJobs(result.jobs);
    this.deps.metrics.commands.inc({ type: envelope.type, status: String(result.reply.status) });
    return result.reply;
  }

  /** The 500 reply of a command whose retries are exhausted (it stays in the failed set for replay). */
  async answerFailed(envelope: CommandEnvelope, replyTopic: string, reason: string): Promise<void> {
    const reply = buildReply(envelope, 500, { detail: 'The command failed after all retries.' });
    this.deps.logger.error({ commandId: envelope.id, type: envelope.type, reason }, 'command failed after all retries');
    await this.queueReplies([{ topic: replyTopic, reply }], `reply-${envelope.id}-failed-${Date.now()}`);
    this.deps.metrics.commands.inc({ type: envelope.type, status: '500' });
  }

  private async queueJobs(jobs: JobDraft[]): Promise<void> {
    for (const job of jobs) {
      const queue: Queue = this.deps.queues[job.queue];
      await queue.add(job.name, job.data, { jobId: job.jobId });
    }
  }

  private async queueRetry(envelope: CommandEnvelope, replyTopic: string, error: unknown): Promise<void> {
    const { commandRetries } = this.deps.queues;
    const jobId = commandRetryJobId(envelope.id);
    const existing = await commandRetries.getJob(jobId);
    if (existing && (await existing.isFailed())) {
      // The same command arrived again after its retries ran out: give it another full run.
      await existing.retry();
    } else {
      await commandRetries.add(
        'command',
        { envelope, replyTopic, firstError: String((error as Error)?.message ?? error) },
        { ...commandRetryJobOptions(this.deps.config.COMMAND_RETRY_ATTEMPTS, this.deps.config.COMMAND_RETRY_BACKOFF_MS), jobId },
      );
    }
    this.deps.metrics.commandRetries.inc();
  }

  private async sendToDlq(message: KafkaCommandMessage, reason: string): Promise<void> {
    const headers: IHeaders = {
      ...(message.headers ?? {}),
      'x-dlq-reason': reason,
      'x-original-topic': message.topic,
      'x-original-partition': String(message.partition),
      'x-original-offset': message.offset,
    };
    await this.deps.producer.send({
      topic: this.deps.config.DLQ_TOPIC,
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers }],
    });
    this.deps.logger.warn({ partition: message.partition, offset: message.offset, reason }, 'unreadable command sent to the DLQ');
    this.deps.metrics.dlq.inc({ source: 'commands', reason: reason.startsWith('not JSON') ? 'not_json' : 'no_id' });
  }

  private observe(type: string, status: number, started: bigint): void {
    this.deps.metrics.commands.inc({ type, status: String(status) });
    this.deps.metrics.commandDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }
}

export function stringHeaders(headers: IHeaders | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    out[name.toLowerCase()] = first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}
