import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { CommandEnvelope, Reply } from '../contracts/envelope.js';

// The BullMQ queues of the worker. Job ids are derived from command ids so that a second delivery of the
// same Kafka message cannot queue the same work twice.

export const QUEUE_NAMES = {
  replies: 'replies',
  commandRetries: 'command-retries',
  results: 'results',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

/** A reply and the topic it goes to. */
export interface OutgoingReply {
  topic: string;
  reply: Reply;
}

/** The replies of one stretch of a commands partition (or of one retried command), sent as one batch. */
export interface ReplyJob {
  replies: OutgoingReply[];
}

export interface CommandRetryJob {
  envelope: CommandEnvelope;
  /** Where the reply goes: the envelope's replyTo or the default replies topic. */
  replyTopic: string;
  firstError: string;
}

/** BullMQ needs `maxRetriesPerRequest: null` on connections used by workers (blocking commands). */
export function createRedis(url: string, purpose: 'queue' | 'worker'): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: purpose === 'worker' ? null : 3,
    enableReadyCheck: true,
    lazyConnect: false,
    connectionName: `experimentation-worker:${purpose}`,
  });
}

export const BACKOFF_STRATEGY = 'capped-exponential';

export interface Queues {
  replies: Queue<ReplyJob>;
  commandRetries: Queue<CommandRetryJob>;
  results: Queue;
  connection: Redis;
  close(): Promise<void>;
}

export function createQueues(redisUrl: string, prefix: string): Queues {
  const connection = createRedis(redisUrl, 'queue');
  const opts = { connection: connection as ConnectionOptions, prefix };
  const replies = new Queue<ReplyJob>(QUEUE_NAMES.replies, opts);
  const commandRetries = new Queue<CommandRetryJob>(QUEUE_NAMES.commandRetries, opts);
  const results = new Queue(QUEUE_NAMES.results, opts);
  return {
    replies,
    commandRetries,
    results,
    connection,
    async close() {
      await Promise.all([replies.close(), commandRetries.close(), results.close()]);
      connection.disconnect();
    },
  };
}

/** Replies are retried until delivered: many attempts, backoff capped at 30 s (about an hour in all). */
export const replyJobOptions: JobsOptions = {
  attempts: 120,
  backoff: { type: BACKOFF_STRATEGY, delay: 250 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: false,
};

export function commandRetryJobOptions(attempts: number, baseDelayMs: number): JobsOptions {
  return {
    attempts,
    backoff: { type: BACKOFF_STRATEGY, delay: baseDelayMs },
    removeOnComplete: { age: 24 * 3600, count: 10_000 },
    removeOnFail: false,
  };
}

export const commandRetryJobId = (commandId: string) => `cmd-${commandId}`;
