import { Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '../logger.js';
import type { CommandProcessor } from '../pipeline/command-processor.js';
import { cappedExponentialBackoff } from '../domain/retry.js';
import { QUEUE_NAMES, createRedis, type CommandRetryJob } from './queues.js';

/**
 * Runs commands that hit a transient failure. Each attempt is the whole exactly-once execution again, so a
 * command that did commit before the failure is answered from the inbox. Exhausted jobs stay in the failed
 * set (for `expctl jobs replay`) and the command gets a 500 reply.
 */
export function startCommandRetryWorker(redisUrl: string, prefix: string, processor: CommandProcessor, logger: Logger, baseDelayMs: number): Worker<CommandRetryJob> {
  const worker = new Worker<CommandRetryJob>(
    QUEUE_NAMES.commandRetries,
    async (job) => {
      const reply = await processor.retry(job.data.envelope, job.data.replyTopic, job.attemptsMade);
      logger.info({ commandId: job.data.envelope.id, attempt: job.attemptsMade + 1, status: reply.status }, 'retried command answered');
      return { status: reply.status };
    },
    {
      connection: createRedis(redisUrl, 'worker') as ConnectionOptions,
      prefix,
      concurrency: 4,
      settings: { backoffStrategy: (attemptsMade: number) => cappedExponentialBackoff(attemptsMade, baseDelayMs, 5 * 60_000) },
    },
  );
  worker.on('failed', (job, err) => {
    if (!job) return;
    const exhausted = job.attemptsMade >= (job.opts.attempts ?? 1);
    logger.warn({ commandId: job.data.envelope.id, attemptsMade: job.attemptsMade, exhausted, err: err.message }, 'command retry failed');
    if (exhausted) {
      processor.answerFailed(job.data.envelope, job.data.replyTopic, err.message).catch((e) => logger.error({ err: e }, 'could not queue the 500 reply'));
    }
  });
  worker.on('error', (err) => logger.error({ err }, 'command retry worker error'));
  return worker;
}
