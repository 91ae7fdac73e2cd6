import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobDraft } from '../handlers/types.js';
import type { CommandRetryJob } from '../contracts/jobs.js';
import type { HeldCommandRef, ReplyDelivery } from '../models/delivery-state.js';
import type { JobScheduler, ReplySink, RetryScheduler } from '../pipeline/ports.js';
import { queueTelemetry } from './queue-telemetry.js';

// The BullMQ queues of the worker and the pipeline ports they implement. Job ids name what a job is about
// (a reply's command and delivery, a held command, an experiment), never a Kafka offset, so the reconciler can
// add the same job again without effect. Finished jobs are removed at once, so an id is free again for the next
// job about the same thing; failed ones stay for operators (`expctl jobs`).

export const QUEUE_NAMES = {
  replies: 'replies',
  commandRetries: 'command-retries',
  results: 'results',
} as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export type { CommandRetryJob } from '../contracts/jobs.js';

/** A retried parked reply's job has the next generation in its id: the old job may still exist (failed). */
export const replyJobId = (d: Pick<ReplyDelivery, 'id' | 'commandId' | 'generation'>) => `reply-${d.commandId}-${d.id}${d.generation ? `-g${d.generation}` : ''}`;
export const commandRetryJobId = (commandId: string) => `cmd-${commandId}`;

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

/**
 * A reply job makes `attempts` attempts (REPLY_DELIVERY_ATTEMPTS; backoff capped at 30 s, so 20 take about
 * 7 minutes), then it is parked. Waiting for an unreachable broker uses none (src/jobs/reply-worker.ts).
 */
export function replyJobOptions(attempts: number): JobsOptions {
  return { attempts, backoff: { type: BACKOFF_STRATEGY, delay: 250 }, removeOnComplete: true, removeOnFail: false };
}

/**
 * Attempts are counted in Postgres (held_commands.attempts); BullMQ only paces them. Completed jobs are kept a
 * day for operators: a command is held at most once (a held or answered id is never held again).
 */
export function commandRetryJobOptions(attempts: number, baseDelayMs: number): JobsOptions {
  return { attempts, backoff: { type: BACKOFF_STRATEGY, delay: baseDelayMs }, removeOnComplete: { age: 24 * 3600, count: 10_000 }, removeOnFail: false };
}

export interface Queues {
  replies: Queue<ReplyDelivery>;
  commandRetries: Queue<CommandRetryJob>;
  results: Queue;
  /** Every queue above (the ops dashboard shows them all). */
  all: Queue[];
  connection: Redis;
  close(): Promise<void>;
}

export function createQueues(redisUrl: string, prefix: string): Queues {
  const connection = createRedis(redisUrl, 'queue');
  const opts = { connection: connection as ConnectionOptions, prefix, ...queueTelemetry() };
  const replies = new Queue<ReplyDelivery>(QUEUE_NAMES.replies, opts);
  const commandRetries = new Queue<CommandRetryJob>(QUEUE_NAMES.commandRetries, opts);
  const results = new Queue(QUEUE_NAMES.results, opts);
  const all: Queue[] = [commandRetries, replies, results];
  for (const queue of all) queue.on('error', () => {}); // each call reports its own failure
  return {
    replies,
    commandRetries,
    results,
    all,
    connection,
    async close() {
      await Promise.all(all.map((queue) => queue.close()));
      connection.disconnect();
    },
  };
}

export function replySink(queues: Pick<Queues, 'replies'>, options: { attempts: number }): ReplySink {
  const jobOptions = replyJobOptions(options.attempts);
  return {
    async enqueue(deliveries) {
      for (let i = 0; i < deliveries.length; i += 500) {
        const chunk = deliveries.slice(i, i + 500);
        await queues.replies.addBulk(chunk.map((d) => ({ name: 'reply', data: d, opts: { ...jobOptions, jobId: replyJobId(d) } })));
      }
    },
  };
}

export function retryScheduler(queues: Pick<Queues, 'commandRetries'>, options: { attempts: number; baseDelayMs: number }): RetryScheduler {
  return {
    async schedule(held: HeldCommandRef[]) {
      for (const ref of held) {
        const jobId = commandRetryJobId(ref.commandId);
        const existing = await queues.commandRetries.getJob(jobId);
        if (existing) {
          const state = await existing.getState();
          // Failed in BullMQ with its attempts not used up in Postgres (Redis trouble during an attempt): again.
          if (state === 'failed') await existing.retry('failed', { resetAttemptsMade: true });
          if (state !== 'completed') continue;
          // Completed while it waited behind an earlier command of its key: it is the head now.
          await existing.remove();
        }
        await queues.commandRetries.add(
          'command',
          { heldId: ref.heldId, commandId: ref.commandId, type: ref.commandType },
          { ...commandRetryJobOptions(options.attempts, options.baseDelayMs), jobId, delay: Math.max(0, ref.notBefore.getTime() - Date.now()) },
        );
      }
    },
  };
}

export function jobScheduler(queues: Pick<Queues, 'results'>, ensureSchedules: () => Promise<void>): JobScheduler {
  return {
    async enqueue(jobs: JobDraft[]) {
      if (jobs.length) await queues.results.addBulk(jobs.map((j) => ({ name: j.name, data: j.data, opts: { jobId: j.jobId } })));
    },
    ensureSchedules,
  };
}
