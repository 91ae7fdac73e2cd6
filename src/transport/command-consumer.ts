import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { OutgoingReply } from '../jobs/queues.js';
import type { CommandProcessor } from '../pipeline/command-processor.js';
import { retryInPlace } from './retry-in-place.js';

export class ShuttingDown extends Error {}

/**
 * A partition's batch is worked through in chunks of this many messages: small enough that replies are not
 * held back long, large enough to find several environments to run side by side.
 */
const CHUNK_SIZE = 64;

/**
 * Consumes the commands topic in a consumer group. Partitions run concurrently. Within a partition, order is
 * kept per message key (the environment, CONTRACT.md): a chunk's messages are grouped by key, each key's run
 * one at a time in offset order, different keys side by side; each command has its own transaction. The
 * chunk's replies are queued in BullMQ as one job (whose id names the partition and offsets), and the chunk's
 * offsets are resolved only once every outcome in it is durable. A message whose outcome could not be made
 * durable (Redis and Kafka both failing, say) is tried again in place with backoff, never thrown to kafkajs,
 * so nothing after it is skipped. Only on shutdown does it stop early, leaving the rest uncommitted for the
 * next owner of the partition (which redoes only what is not in the inbox).
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

  /** Runs `work` until it succeeds (see retryInPlace); throws ShuttingDown when the worker stops or the partition moves. */
  async function untilDurable<T>(what: string, work: () => Promise<T>, batch: { heartbeat: () => Promise<void>; isLive: () => boolean }): Promise<T> {
    const outcome = await retryInPlace(what, work, {
      heartbeat: batch.heartbeat,
      isStopping,
      isLive: batch.isLive,
      stopped: () => new ShuttingDown(`gave up on ${what} at shutdown; it stays uncommitted`),
      logger,
    });
    if (!outcome.done) throw new ShuttingDown(`gave up on ${what}: the partition moved to another consumer`);
    return outcome.value;
  }

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const { partition } = batch;
      const control = { heartbeat, isLive: () => isRunning() && !isStale() };
      // Queuing a chunk's replies overlaps with running the next chunk; offsets resolve in order.
      let queued: Promise<void> = Promise.resolve();
      let failure: unknown;

      for (let start = 0; start < batch.messages.length; start += CHUNK_SIZE) {
        if (!isRunning() || isStale() || isStopping() || failure) break;
        const chunk = batch.messages.slice(start, start + CHUNK_SIZE);
        const byKey = new Map<string, KafkaMessage[]>();
        for (const message of chunk) {
          const key = message.key?.toString('base64') ?? '';
          byKey.set(key, [...(byKey.get(key) ?? []), message]);
        }
        const repliesByOffset = new Map<string, OutgoingReply[]>();
        const lanes = await Promise.allSettled(
          [...byKey.values()].map(async (messages) => {
            for (const message of messages) {
              const replies = await untilDurable(
                `make command ${partition}/${message.offset} durable`,
                () => processor.process({ topic: batch.topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers }),
                control,
              );
              repliesByOffset.set(message.offset, replies);
            }
          }),
        );
        const stopped = lanes.find((lane) => lane.status === 'rejected');
        if (stopped) {
          // Shutting down mid-chunk: nothing of this chunk is resolved; what did commit is answered from the
          // inbox when the chunk is delivered again.
          failure = (stopped as PromiseRejectedResult).reason;
          break;
        }
        const replies = chunk.flatMap((message) => repliesByOffset.get(message.offset) ?? []);
        const upTo = chunk.at(-1)!.offset;
        const jobId = `replies-${partition}-${chunk[0]!.offset}-${upTo}`;
        const previous = queued;
        queued = (async () => {
          await previous;
          await untilDurable(`queue replies ${jobId}`, () => processor.queueReplies(replies, jobId), control);
          resolveOffset(upTo);
        })();
        queued.catch((error) => (failure ??= error));
      }
      await queued.catch(() => {});
      if (failure && !(failure instanceof ShuttingDown)) logger.error({ err: failure }, 'command batch stopped early');
      await heartbeat().catch(() => {});
    },
  });
  return consumer;
}
