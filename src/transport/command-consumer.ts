import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { CommandProcessor } from '../pipeline/command-processor.js';

export class ShuttingDown extends Error {}

/**
 * Consumes the commands topic in a consumer group. Partitions run concurrently; messages within a partition
 * run one at a time, in order. The handler never throws to kafkajs while running: a message whose outcome
 * could not be made durable (Redis and Kafka both failing, say) is tried again in place with backoff, so
 * its offset is not committed and nothing after it is skipped. Only on shutdown does it give up, leaving the
 * offset uncommitted for the next owner of the partition.
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
  const consumer = kafka.consumer({ groupId: options.groupId, sessionTimeout: options.sessionTimeoutMs, heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)), maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    eachMessage: async ({ topic, partition, message, heartbeat }) => {
      for (let attempt = 1; ; attempt++) {
        try {
          await processor.process({ topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers });
          return;
        } catch (error) {
          if (isStopping()) throw new ShuttingDown(`left offset ${partition}/${message.offset} uncommitted at shutdown`);
          const delay = Math.min(30_000, 200 * 2 ** Math.min(attempt, 8));
          logger.error({ partition, offset: message.offset, attempt, delayMs: delay, err: error }, 'could not settle a command message; trying it again');
          await new Promise((resolve) => setTimeout(resolve, delay));
          await heartbeat().catch(() => {});
        }
      }
    },
  });
  return consumer;
}
