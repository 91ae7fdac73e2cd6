import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ReplyDelivery } from '../models/delivery-state.js';
import type { ReplyPublisher } from '../pipeline/ports.js';
import { ReplyNotPublished, deliverReply, parkReply } from '../pipeline/replies.js';
import { cappedExponentialBackoff, isTransientError } from '../domain/retry.js';
import { replyJobSchema } from '../contracts/jobs.js';
import { QUEUE_NAMES, createRedis } from './queues.js';
import { queueTelemetry } from './queue-telemetry.js';

const backoff = (attempt: number) => cappedExponentialBackoff(attempt, 250, 30_000);

/** Not the reply's fault: Kafka unreachable, or Postgres (marking it delivered) in trouble. */
const waitsForOthers = (error: unknown) => (error instanceof ReplyNotPublished && error.failure === 'unreachable') || isTransientError(error);

/**
 * Delivers recorded replies, one job each, so one undeliverable reply delays no other. A reply the broker refuses
 * for good is parked at once, one that keeps failing (its topic does not exist, say) once its attempts
 * (REPLY_DELIVERY_ATTEMPTS) are used up; parking happens inside the job, so a job only ends failed once Postgres
 * has the reply parked. While Kafka or Postgres is unreachable a reply waits (backoff capped at 30 s) without using
 * up attempts: an outage parks nothing.
 */
export function startReplyWorker(options: { redisUrl: string; prefix: string; knex: Knex; publisher: ReplyPublisher; logger: Logger; metrics: Metrics }): Worker<ReplyDelivery> {
  const { knex, publisher, logger, metrics } = options;

  const later = async (job: Job<ReplyDelivery>, token: string | undefined, error: unknown): Promise<never> => {
    if (!token) throw error;
    const delay = backoff(job.attemptsStarted);
    logger.debug({ jobId: job.id, delayMs: delay, err: (error as Error).message }, 'reply waits for Kafka or Postgres');
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  };

  const worker = new Worker<ReplyDelivery>(
    QUEUE_NAMES.replies,
    async (job, token) => {
      try {
        const parsed = replyJobSchema.safeParse(job.data);
        if (!parsed.success) {
          logger.warn({ jobId: job.id }, 'malformed reply job; dropped');
          return;
        }
        if (await deliverReply({ knex, publisher }, parsed.data)) metrics.repliesSent.inc();
        return;
      } catch (error) {
        if (waitsForOthers(error)) return later(job, token, error);
        const refused = error instanceof ReplyNotPublished && error.failure === 'refused';
        if (!refused && job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
        const reason = (error as Error).message;
        try {
          await parkReply({ knex }, job.data, reason);
        } catch (parkError) {
          if (isTransientError(parkError)) return later(job, token, parkError);
          throw parkError;
        }
        metrics.parkedMessages.inc({ kind: 'reply' });
        logger.error({ jobId: job.id, commandId: job.data.commandId, topic: job.data.topic, attemptsMade: job.attemptsMade + 1, err: reason }, 'reply undeliverable; parked (expctl parked list)');
        throw new UnrecoverableError(reason);
      }
    },
    {
      connection: createRedis(options.redisUrl, 'worker') as ConnectionOptions,
      ...queueTelemetry(),
      prefix: options.prefix,
      concurrency: 64,
      // Replies take milliseconds: a short lock lets another worker take over the replies of a killed one
      // within seconds (BullMQ's defaults, 30 s lock and 30 s stalled check, would hold them for up to a minute).
      lockDuration: 10_000,
      stalledInterval: 5_000,
      settings: { backoffStrategy: (attemptsMade: number) => backoff(attemptsMade) },
    },
  );
  worker.on('failed', (job, err) => {
    if (!job || err.name === 'UnrecoverableError') return;
    logger.warn({ jobId: job.id, attemptsMade: job.attemptsMade, err: err.message }, 'reply not delivered yet');
  });
  worker.on('error', (err) => logger.error({ err }, 'reply worker error'));
  return worker;
}
