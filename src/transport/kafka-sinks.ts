import type { Kafka, Message, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { CommandDlqReason, Metrics } from '../metrics.js';
import type { DeadLetterSink, ReplyPublisher } from '../pipeline/ports.js';
import { ReplyNotPublished } from '../pipeline/replies.js';
import type { DeadLetterCopy } from '../models/parked.js';
import { classifySendError, compressionFor, messageBytes } from './kafka-limits.js';
import { deadLetterHeaders, sendDeadLetters } from './dead-letters.js';
import { RenewableProducer } from './renewable-producer.js';
import { sendTraced, untracedPublishing, type PublishTracing } from './publish-tracing.js';

// The pipeline's Kafka-facing ports: publishing a reply, and dead-lettering an unreadable command.

/**
 * The replies' own producer. It never creates a topic (CONTRACT.md: a reply's topic is the sender's to create),
 * and gives up after about a second, so an attempt at a missing topic fails fast and the job is tried again
 * later instead of blocking a slot. A producer may carry at most 1000 reply topics' metadata.
 */
export function createReplyProducer(kafka: Kafka, logger: Logger): RenewableProducer {
  return new RenewableProducer(
    () => kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 } }),
    { logger, name: 'replies', maxTopics: 1000 },
  );
}

/** Replies go out in the trace of the command they answer (the delivery's `traceparent`). */
export function kafkaReplyPublisher(producer: RenewableProducer, tracing: PublishTracing = untracedPublishing): ReplyPublisher {
  return {
    async publish({ topic, reply, traceparent }) {
      const headers: Record<string, string> = {
        ...(reply.correlationId !== undefined ? { 'correlation-id': reply.correlationId } : {}),
        ...(traceparent !== undefined ? { traceparent } : {}),
      };
      const message: Message = { key: reply.commandId, value: JSON.stringify(reply), headers };
      try {
        await sendTraced(tracing, [{ topic, message }], ([sent]) =>
          producer.sendBatch(
            { acks: -1, compression: compressionFor(messageBytes(message)), topicMessages: [{ topic, messages: [sent!] }] },
            // A missing topic may be one deleted since this producer sent to it, which fails its every metadata refresh.
            { renewOn: (error) => ['missing-topic', 'other'].includes(classifySendError(error).failure) },
          ),
        );
      } catch (error) {
        const { failure, detail } = classifySendError(error);
        const what = failure === 'missing-topic' ? `reply topic ${topic} does not exist` : `reply to ${topic} not published`;
        throw new ReplyNotPublished(failure, `${what} (${detail})`, { cause: error });
      }
    },
  };
}

/**
 * DLQ copies go out in sends capped in bytes. A send the broker refuses for good is repeated one copy at a time,
 * and a copy it still refuses (a DLQ topic with a lower limit than the original topic's, say) is parked in
 * Postgres with its bytes: durable either way, so the command's offset can be committed.
 */
/** Unreadable commands to DLQ_TOPIC (dead-letters.ts: byte-capped sends; a copy refused for good is parked). */
export function kafkaDeadLetterSink(options: { producer: Producer; topic: string; knex: Knex; logger: Logger; metrics: Metrics; tracing?: PublishTracing }): DeadLetterSink {
  const { topic, logger, metrics } = options;
  return {
    async send(letters) {
      if (!letters.length) return;
      const copies: DeadLetterCopy[] = letters.map((l) => ({
        topic,
        sourceTopic: l.sourceTopic,
        partition: l.partition,
        offset: l.offset,
        key: l.key,
        value: l.value,
        headers: deadLetterHeaders(l.headers, {
          'x-dlq-reason': l.reason,
          'x-original-topic': l.sourceTopic,
          'x-original-partition': String(l.partition),
          'x-original-offset': l.offset,
        }),
        reason: l.reason,
      }));
      const parked = await sendDeadLetters(options, copies);
      for (const copy of copies) {
        if (parked.has(copy)) continue;
        logger.warn({ partition: copy.partition, offset: copy.offset, reason: copy.reason }, 'unreadable command sent to the DLQ');
        const reason: CommandDlqReason = copy.reason.startsWith('not JSON') ? 'not_json' : 'no_id';
        metrics.dlq.inc({ source: 'commands', reason });
      }
    },
  };
}
