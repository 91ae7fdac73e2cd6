import { Worker, type ConnectionOptions } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ReplyDelivery } from '../models/delivery-state.js';
import type { ReplyPublisher } from '../pipeline/ports.js';
import { deliverReply, parkReply } from '../pipeline/replies.js';
import { cappedExponentialBackoff } from '../domain/retry.js';
import { QUEUE_NAMES, createRedis } from './queues.js';

/** Delivers recorded replies, one job each, so one undeliverable reply delays no other; parks it when its attempts run out. */
export function startReplyWorker(options: { redisUrl: string; prefix: string; knex: Knex; publisher: ReplyPublisher; logger: Logger; metrics: Metrics }): Worker<ReplyDelivery> {
  const { knex, publisher, logger, metrics } = options;
  const worker = new Worker<ReplyDelivery>(
    QUEUE_NAMES.replies,
    async (job) => {
      await deliverReply({ knex, publisher }, job.data);
      metrics.repliesSent.inc();
    },
    {
      connection: createRedis(options.redisUrl, 'worker') as ConnectionOptions,
      prefix: options.prefix,
      concurrency: 64,
      // Replies take milliseconds: a short lock lets another worker take over the replies of a killed one
      // within seconds (BullMQ's defaults, 30 s lock and 30 s stalled check, would hold them for up to a minute).
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: { backoffStrategy: (attemptsMade: number) => cappedExponentialBackoff(attemptsMade, 250, 30_000) },
    },
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ jobId: job.id, attemptsMade: job.attemptsMade, exhausted, err: err.message }, exhausted ? 'reply undeliverable; parked' : 'reply not delivered yet');
    if (exhausted) parkReply({ knex }, job.data, err.message).catch((e) => logger.error({ err: e, jobId: job.id }, 'could not park the undeliverable reply'));
  });
  worker.on('error', (err) => logger.error({ err }, 'reply worker error'));
  return worker;
}
