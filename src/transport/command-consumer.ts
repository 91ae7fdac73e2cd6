import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { OutgoingReply } from '../jobs/queues.js';
import type { CommandProcessor } from '../pipeline/command-processor.js';

export class ShuttingDown extends Error {}

/** Replies of a stretch of messages are queued as one job after this many, or when a batch ends. */
const MAX_REPLIES_PER_JOB = 200;
/** ... or once the oldest waiting reply is this old, so a long batch does not hold replies back. */
const MAX_REPLY_WAIT_MS = 10;

/**
 * Consumes the commands topic in a consumer group. Partitions run concurrently; messages within a partition
 * run one at a time, in order, each in its own transaction. Their replies are queued in BullMQ a stretch at
 * a time (one job, whose id names the partition and offsets), and a message's offset is resolved only once
 * its outcome is durable. A message whose outcome could not be made durable (Redis and Kafka both failing,
 * say) is tried again in place with backoff, never thrown to kafkajs, so nothing after it is skipped. Only
 * on shutdown does it stop early, leaving the rest uncommitted for the next owner of the partition.
 */
export async function startCommandConsumer(options: {
  kafka: Kafka;
  groupId: string;
  topic: string;
  partitionsConsumedConcurrently: number;
  sessionTimeoutMs: number;
  processor: CommandProcessor;
  logger: Logger;
  isStopping: () => boolean;
}): Promise<Consumer> {
  const { kafka, processor, logger, isStopping } = options;
  const consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
    maxWaitTimeInMs: 100,
  });

  /** Runs `work` until it succeeds, backing off; gives up (throws ShuttingDown) only when the worker stops. */
  async function untilDurable<T>(what: string, work: () => Promise<T>, heartbeat: () => Promise<void>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (isStopping()) throw new ShuttingDown(`gave up on ${what} at shutdown; it stays uncommitted`);
        const delay = Math.min(30_000, 200 * 2 ** Math.min(attempt, 8));
        logger.error({ what, attempt, delayMs: delay, err: error }, 'could not make a command outcome durable; trying again');
        await new Promise((resolve) => setTimeout(resolve, delay));
        await heartbeat().catch(() => {});
      }
    }
  }

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { partition } = batch;
      let pending: OutgoingReply[] = [];
      let first: string | undefined;
      let last: string | undefined;
      let pendingSince = 0;
      // Queuing a stretch's replies overlaps with running the next commands; offsets resolve in order.
      let queued: Promise<void> = Promise.resolve();
      let failure: unknown;

      const flush = () => {
        if (last === undefined) return;
        const replies = pending;
        const upTo = last;
        const jobId = `replies-${partition}-${first}-${last}`;
        pending = [];
        first = last = undefined;
        const previous = queued;
        queued = (async () => {
          await previous;
          await untilDurable(`replies ${jobId}`, () => processor.queueReplies(replies, jobId), heartbeat);
          resolveOffset(upTo);
        })();
        queued.catch((error) => (failure ??= error));
      };

      for (const message of batch.messages) {
        if (!isRunning() || isStale() || isStopping() || failure) break;
        let replies: OutgoingReply[];
        try {
          replies = await untilDurable(
            `command ${partition}/${message.offset}`,
            () => processor.process({ topic: batch.topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers }),
            heartbeat,
          );
        } catch (error) {
          failure ??= error;
          break;
        }
        if (!pending.length) pendingSince = Date.now();
        pending.push(...replies);
        first ??= message.offset;
        last = message.offset;
        if (pending.length >= MAX_REPLIES_PER_JOB || Date.now() - pendingSince >= MAX_REPLY_WAIT_MS) flush();
      }
      flush();
      await queued.catch(() => {});
      if (failure && !(failure instanceof ShuttingDown)) logger.error({ err: failure }, 'command batch stopped early');
      await heartbeat().catch(() => {});
    },
  });
  return consumer;
}
