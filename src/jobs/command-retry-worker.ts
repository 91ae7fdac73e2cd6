import { UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import type { Logger } from '../logger.js';
import { runHeldCommand, type HeldRunnerDeps } from '../pipeline/held-commands.js';
import { cappedExponentialBackoff } from '../domain/retry.js';
import { commandRetryJobSchema } from '../contracts/jobs.js';
import { QUEUE_NAMES, createRedis, type CommandRetryJob } from './queues.js';
import { queueTelemetry } from './queue-telemetry.js';

/**
 * Runs held commands (src/pipeline/held-commands.ts). A failed attempt is thrown so BullMQ backs off; a command
 * whose attempts ran out (counted in Postgres) was answered 500 and its job fails for good, staying in the failed
 * set so that an operator can replay it (`expctl jobs replay`).
 */
export function startCommandRetryWorker(options: { redisUrl: string; prefix: string; runner: HeldRunnerDeps; logger: Logger; baseDelayMs: number }): Worker<CommandRetryJob> {
  const { logger } = options;
  const worker = new Worker<CommandRetryJob>(
    QUEUE_NAMES.commandRetries,
    async (job) => {
      const parsed = commandRetryJobSchema.safeParse(job.data);
      if (!parsed.success) {
        // Not a job this worker wrote (an older version's, or forged): it names no held command to run.
        logger.warn({ jobId: job.id }, 'malformed command retry job; dropped');
        return { kind: 'dropped' };
      }
      const outcome = await runHeldCommand(options.runner, parsed.data);
      if (outcome.kind === 'retry') throw new Error(outcome.error);
      if (outcome.kind === 'exhausted') throw new UnrecoverableError(outcome.error);
      return outcome;
    },
    {
      connection: createRedis(options.redisUrl, 'worker') as ConnectionOptions,
      ...queueTelemetry(),
      prefix: options.prefix,
      concurrency: 4,
      settings: { backoffStrategy: (attemptsMade: number) => cappedExponentialBackoff(attemptsMade, options.baseDelayMs, 5 * 60_000) },
    },
  );
  worker.on('failed', (job, err) => logger.warn({ commandId: job?.data.commandId, attemptsMade: job?.attemptsMade, err: err.message }, 'command retry failed'));
  worker.on('error', (err) => logger.error({ err }, 'command retry worker error'));
  return worker;
}
