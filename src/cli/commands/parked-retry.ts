import type { Knex } from 'knex';
import type { Queue } from 'bullmq';
import type { Config } from '../../config.js';
import type { ReplyDelivery } from '../../models/delivery-state.js';
import { unparkReplyDeliveries } from '../../models/delivery-state.js';
import { parkedDeadLetters, parkedId, recordDeadLetterFailure, removeParkedDeadLetter, unparkEvents, type ParkedKind } from '../../models/parked.js';
import { QUEUE_NAMES, replyJobId, replySink } from '../../jobs/queues.js';
import { OUTBOX_CHANNEL } from '../../pipeline/execute-command.js';
import { classifySendError, compressionFor, messageBytes } from '../../transport/kafka-limits.js';
import { withQueue } from './jobs.js';
import type { CliContext } from './context.js';

// `expctl parked retry`, loaded only when it runs. Each kind goes back to the part of the worker that sends it:
// events to the relay (unparked, and the relay woken), replies to the replies queue (a fresh job), dead letters
// straight to their DLQ topic (no worker loop reads parked ones).

export interface RetryResult {
  retried: string[];
  errors: string[];
  warnings: string[];
}

export async function retryParked(ctx: CliContext, knex: Knex, config: Config, selection: Map<ParkedKind, number[] | 'all'>, verbose: boolean): Promise<RetryResult> {
  const result: RetryResult = { retried: [], errors: [], warnings: [] };
  for (const [kind, rowIds] of selection) {
    if (kind === 'event') {
      const ids = await unparkEvents(knex, rowIds);
      if (ids.length) await knex.raw('select pg_notify(?, ?)', [OUTBOX_CHANNEL, '']);
      result.retried.push(...ids.map((id) => parkedId('event', id)));
    } else if (kind === 'reply') {
      const deliveries = await unparkReplyDeliveries(knex, rowIds);
      result.retried.push(...deliveries.map((d) => parkedId('reply', d.id)));
      if (deliveries.length) await queueReplies(ctx, config, deliveries, result);
    } else {
      await resendDeadLetters(ctx, knex, config, rowIds, verbose, result);
    }
  }
  return result;
}

/**
 * New jobs for unparked replies (their generation is in the job id, so the failed job of the last round does not
 * make `add` a no-op; it is removed, as it is done with). Postgres has them unparked already: if Redis cannot be
 * reached the worker's reconciler queues them.
 */
async function queueReplies(ctx: CliContext, config: Config, deliveries: ReplyDelivery[], result: RetryResult): Promise<void> {
  try {
    await withQueue(ctx, QUEUE_NAMES.replies, async (queue) => {
      for (const d of deliveries) {
        const previous = await queue.getJob(replyJobId({ ...d, generation: (d.generation ?? 1) - 1 }));
        if (previous && (await previous.getState()) === 'failed') await previous.remove();
      }
      await replySink({ replies: queue as Queue<ReplyDelivery> }, { attempts: config.REPLY_DELIVERY_ATTEMPTS }).enqueue(deliveries);
    });
  } catch (error) {
    result.warnings.push(
      `replies unparked in Postgres but not queued (${(error as Error).message}): the worker's reconciler queues them within RECONCILE_INTERVAL_S`,
    );
  }
}

async function resendDeadLetters(ctx: CliContext, knex: Knex, config: Config, rowIds: number[] | 'all', verbose: boolean, result: RetryResult): Promise<void> {
  const letters = await parkedDeadLetters(knex, rowIds);
  if (!letters.length) return;
  const kafka = await ctx.kafka(config, verbose);
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  try {
    await producer.connect();
    for (const letter of letters) {
      const id = parkedId('dead-letter', letter.rowId);
      const message = { key: letter.key, value: letter.value, headers: letter.headers };
      try {
        await producer.send({ topic: letter.topic, acks: -1, compression: compressionFor(messageBytes(message)), messages: [message] });
        await removeParkedDeadLetter(knex, letter.rowId);
        result.retried.push(id);
      } catch (error) {
        const { detail } = classifySendError(error);
        await recordDeadLetterFailure(knex, letter.rowId, detail);
        result.errors.push(`${id}: ${detail}`);
      }
    }
  } catch (error) {
    result.errors.push(`cannot reach Kafka at ${config.KAFKA_BROKERS.join(',')}: ${(error as Error).message}`);
  } finally {
    await producer.disconnect().catch(() => {});
  }
}
