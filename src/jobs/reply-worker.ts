import { Worker, type ConnectionOptions } from 'bullmq';
import type { Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { cappedExponentialBackoff } from '../domain/retry.js';
import { QUEUE_NAMES, createRedis, type OutgoingReply, type ReplyJob } from './queues.js';

/** Produces queued replies to Kafka (key = command id, header `correlation-id`); BullMQ retries until delivered. */
export function startReplyWorker(redisUrl: string, prefix: string, producer: Producer, logger: Logger, metrics: Metrics): Worker<ReplyJob> {
  const worker = new Worker<ReplyJob>(
    QUEUE_NAMES.replies,
    async (job) => {
      // One Kafka request for all the replies of the job, grouped by topic; order within a topic is kept.
      const byTopic = new Map<string, OutgoingReply[]>();
      for (const r of job.data.replies) byTopic.set(r.topic, [...(byTopic.get(r.topic) ?? []), r]);
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, replies]) => ({
          topic,
          messages: replies.map(({ reply }) => ({
            key: reply.commandId,
            value: JSON.stringify(reply),
            headers: reply.correlationId !== undefined ? { 'correlation-id': reply.correlationId } : {},
          })),
        })),
      });
      metrics.repliesSent.inc(job.data.replies.length);
    },
    {
      connection: createRedis(redisUrl, 'worker') as ConnectionOptions,
      prefix,
      concurrency: 64,
      // Replies take milliseconds: a short lock lets another worker take over the replies of a killed one
      // within seconds (BullMQ's defaults, 30 s lock and 30 s stalled check, would hold them for up to a minute).
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: { backoffStrategy: (attemptsMade: number) => cappedExponentialBackoff(attemptsMade, 250, 30_000) },
    },
  );
  worker.on('failed', (job, err) => logger.warn({ jobId: job?.id, attemptsMade: job?.attemptsMade, err }, 'reply not delivered yet'));
  worker.on('error', (err) => logger.error({ err }, 'reply worker error'));
  return worker;
}

