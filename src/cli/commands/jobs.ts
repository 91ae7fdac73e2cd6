import { Option, type Command } from 'commander';
import type { ConnectionOptions, Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { QueueName } from '../../jobs/queues.js';
import { CliError, EXIT, formatTable, isoTime, parseIntOption, truncate, usageError, type CliContext } from './context.js';

// `expctl jobs failed|replay|discard`: the failed sets of the worker's BullMQ queues (QUEUE_PREFIX).

// The names of src/jobs/queues.ts QUEUE_NAMES (checked by the type); not imported at run time so that
// --help does not load bullmq.
export const QUEUE_CHOICES = ['command-retries', 'replies', 'results'] as const satisfies readonly QueueName[];
const DEFAULT_QUEUE: QueueName = 'command-retries';

export interface FailedJobView {
  id: string;
  queue: string;
  name: string;
  commandId: string | null;
  type: string | null;
  attemptsMade: number;
  maxAttempts: number;
  failedReason: string | null;
  failedAt: string | null;
  createdAt: string | null;
}

/** What a job is about: the command of a retry job, the (first) reply of a reply job, else what its data names. */
export function describeJob(queue: string, job: Pick<Job, 'id' | 'name' | 'data' | 'attemptsMade' | 'opts' | 'failedReason' | 'finishedOn' | 'timestamp'>): FailedJobView {
  const data = (job.data ?? {}) as Record<string, unknown>;
  const envelope = data.envelope as { id?: unknown; type?: unknown } | undefined;
  const replies = Array.isArray(data.replies) ? (data.replies as { reply?: { commandId?: unknown; type?: unknown } }[]) : [];
  const reply = replies[0]?.reply ?? (data.reply as { commandId?: unknown; type?: unknown } | undefined);
  const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v) : null);
  const more = replies.length > 1 ? ` (+${replies.length - 1} more replies)` : '';
  const firstCommand = str(envelope?.id) ?? str(reply?.commandId) ?? str(data.commandId);
  const commandId = firstCommand === null ? null : firstCommand + more;
  const subject = str(data.experimentId) !== null ? ` (experiment ${str(data.experimentId)})` : ''; // results jobs
  const type = str(envelope?.type) ?? str(reply?.type) ?? str(data.type) ?? (job.name ? `${job.name}${subject}` : null);
  return {
    id: String(job.id),
    queue,
    name: job.name,
    commandId,
    type,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts?.attempts ?? 1,
    failedReason: job.failedReason || null,
    failedAt: isoTime(job.finishedOn) || null,
    createdAt: isoTime(job.timestamp) || null,
  };
}

const queueOption = () =>
  new Option('-q, --queue <name>', 'which queue').choices([...QUEUE_CHOICES]).default(DEFAULT_QUEUE);

interface Target {
  jobId?: string;
  all: boolean;
}

function target(jobId: string | undefined, all: boolean | undefined, verb: string): Target {
  if (jobId !== undefined && all) throw usageError(`jobs ${verb}: give a job id or --all, not both`);
  if (jobId === undefined && !all) throw usageError(`jobs ${verb}: give a job id (see \`expctl jobs failed\`) or --all`);
  return { ...(jobId !== undefined ? { jobId } : {}), all: Boolean(all) };
}

export async function withQueue<T>(ctx: CliContext, name: QueueName, fn: (queue: Queue) => Promise<T>): Promise<T> {
  const config = ctx.config({ requireCommandKeys: false });
  const { Queue } = await import('bullmq');
  const redis: Redis = await ctx.redis(config);
  const queue = new Queue(name, { connection: redis as unknown as ConnectionOptions, prefix: config.QUEUE_PREFIX });
  queue.on('error', () => {});
  try {
    return await fn(queue);
  } finally {
    await queue.close().catch(() => {});
    redis.disconnect();
  }
}

/** The named job, which must be in the failed set (exit 1 otherwise). */
async function failedJob(queue: Queue, jobId: string): Promise<Job> {
  const job = await queue.getJob(jobId);
  if (!job) throw new CliError(EXIT.failure, `job ${jobId} not found in queue ${queue.name} (prefix ${queue.opts.prefix})`);
  const state = await job.getState();
  if (state !== 'failed') throw new CliError(EXIT.failure, `job ${jobId} in queue ${queue.name} is ${state}, not failed`);
  return job;
}

function printJobs(ctx: CliContext, views: FailedJobView[], json: boolean, extra?: Record<string, unknown>): void {
  if (json) {
    ctx.json({ ...extra, jobs: views });
    return;
  }
  if (!views.length) return;
  ctx.out(
    formatTable(
      ['JOB ID', 'COMMAND ID', 'TYPE', 'ATTEMPTS', 'FAILED AT', 'FAILED REASON'],
      views.map((v) => [v.id, v.commandId ?? '', v.type ?? '', `${v.attemptsMade}/${v.maxAttempts}`, v.failedAt ?? '', truncate(v.failedReason ?? '', 80)]),
      80,
    ),
  );
}

export function registerJobs(program: Command, ctx: CliContext): void {
  const jobs = program
    .command('jobs')
    .description("Inspect and act on the failed jobs of the worker's BullMQ queues (command retries, replies, results).")
    .addHelpText(
      'after',
      `
Queues (under QUEUE_PREFIX): command-retries (commands that hit a passing failure; exhausted ones got a 500
reply), replies (replies not yet delivered to Kafka), results (results computations).

Examples:
  $ expctl jobs failed
  $ expctl jobs replay cmd-0b6f6c1e-1f0e-4f57-9d1f-6a0f3e6c2a10
  $ expctl jobs discard --all --queue results`,
    );

  jobs
    .command('failed')
    .description('List the failed jobs of a queue: job id, command id and type, attempts, reason, when it failed.')
    .addOption(queueOption())
    .option('-n, --limit <n>', 'show at most this many (most recent first)', parseIntOption('--limit', 1), 50)
    .addHelpText('after', '\nExamples:\n  $ expctl jobs failed\n  $ expctl jobs failed --queue replies --limit 10 --json')
    .action(async (opts: { queue: QueueName; limit: number }, command: Command) => {
      const { json } = ctx.globals(command);
      await withQueue(ctx, opts.queue, async (queue) => {
        const total = await queue.getFailedCount();
        const found = await queue.getFailed(0, opts.limit - 1);
        const views = found.filter(Boolean).map((job) => describeJob(opts.queue, job));
        if (json) {
          printJobs(ctx, views, true, { queue: opts.queue, total });
          return;
        }
        ctx.out(total ? `${total} failed job(s) in queue ${opts.queue}${views.length < total ? ` (showing ${views.length})` : ''}` : `no failed jobs in queue ${opts.queue}`);
        printJobs(ctx, views, false);
      });
    });

  jobs
    .command('replay')
    .description('Move failed jobs back to waiting so the worker runs them again, with a fresh set of attempts.')
    .argument('[jobId]', 'the job to replay (see `expctl jobs failed`)')
    .option('--all', 'replay every failed job of the queue')
    .addOption(queueOption())
    .addHelpText(
      'after',
      `
A replayed command retry runs the whole command again; a command that did commit is answered from the
inbox, so it is not applied twice. Exit 1 when the named job is not found or not failed.

Examples:
  $ expctl jobs replay cmd-0b6f6c1e-1f0e-4f57-9d1f-6a0f3e6c2a10
  $ expctl jobs replay --all --queue replies`,
    )
    .action((jobId: string | undefined, opts: { all?: boolean; queue: QueueName }, command: Command) =>
      actOnFailedJobs(ctx, command, jobId, opts, {
        verb: 'replay',
        done: 'replayed',
        summary: (n, queue) => (n ? `replayed ${n} job(s) from queue ${queue} (now waiting):` : `nothing to replay in queue ${queue}`),
        act: (job) => job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }),
      }),
    );

  jobs
    .command('discard')
    .description('Remove failed jobs for good (their commands will not be retried).')
    .argument('[jobId]', 'the job to remove (see `expctl jobs failed`)')
    .option('--all', 'remove every failed job of the queue')
    .addOption(queueOption())
    .addHelpText(
      'after',
      `
Exit 1 when the named job is not found or not failed.

Examples:
  $ expctl jobs discard cmd-0b6f6c1e-1f0e-4f57-9d1f-6a0f3e6c2a10
  $ expctl jobs discard --all --queue results`,
    )
    .action((jobId: string | undefined, opts: { all?: boolean; queue: QueueName }, command: Command) =>
      actOnFailedJobs(ctx, command, jobId, opts, {
        verb: 'discard',
        done: 'discarded',
        summary: (n, queue) => (n ? `discarded ${n} failed job(s) from queue ${queue}:` : `nothing to discard in queue ${queue}`),
        act: (job) => job.remove(),
      }),
    );
}

/** Replay and discard: the named failed job, or all of them, acted on one by one; errors reported at the end. */
async function actOnFailedJobs(
  ctx: CliContext,
  command: Command,
  jobId: string | undefined,
  opts: { all?: boolean; queue: QueueName },
  action: { verb: 'replay' | 'discard'; done: string; summary: (count: number, queue: string) => string; act: (job: Job) => Promise<unknown> },
): Promise<void> {
  const { json } = ctx.globals(command);
  const what = target(jobId, opts.all, action.verb);
  await withQueue(ctx, opts.queue, async (queue) => {
    const selected = what.jobId !== undefined ? [await failedJob(queue, what.jobId)] : (await queue.getFailed(0, -1)).filter(Boolean);
    const done: FailedJobView[] = [];
    const errors: string[] = [];
    for (const job of selected) {
      const view = describeJob(opts.queue, job);
      try {
        await action.act(job);
        done.push(view);
      } catch (error) {
        errors.push(`job ${view.id}: ${(error as Error).message}`);
      }
    }
    if (json) printJobs(ctx, done, true, { queue: opts.queue, action: action.done, errors });
    else {
      ctx.out(action.summary(done.length, opts.queue));
      printJobs(ctx, done, false);
    }
    if (errors.length) throw new CliError(EXIT.failure, `could not ${action.verb} ${errors.length} job(s):\n  ${errors.join('\n  ')}`);
  });
}
