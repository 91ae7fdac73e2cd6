import type { Kafka, Message, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { CommandDlqReason, Metrics } from '../metrics.js';
import type { DeadLetterSink, ReplyBatchPublisher, ReplyPublisher } from '../pipeline/ports.js';
import type { ReplyDelivery } from '../models/delivery-state.js';
import { ReplyNotPublished } from '../pipeline/replies.js';
import type { DeadLetterCopy } from '../models/parked.js';
import { byteCappedChunks, classifySendError, compressionFor, messageBytes } from './kafka-limits.js';
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

const replyMessage = ({ reply, traceparent }: Pick<ReplyDelivery, 'reply' | 'traceparent'>): Message => ({
  key: reply.commandId,
  value: JSON.stringify(reply),
  headers: {
    ...(reply.correlationId !== undefined ? { 'correlation-id': reply.correlationId } : {}),
    // The trace of the command answered; sendTraced swaps it for the publish span's when tracing is on.
    ...(traceparent !== undefined ? { traceparent } : {}),
  },
});

/**
 * The pipeline's direct reply path: a group's replies in one produce request per 512 KiB (byte-capped like the
 * relay's), topics grouped, each reply in the trace of the command it answers (its delivery's `traceparent`).
 * Any failure is reported for the whole call; the caller hands them to the queue.
 */
export function kafkaReplyBatchPublisher(producer: RenewableProducer, tracing: PublishTracing = untracedPublishing): ReplyBatchPublisher {
  return {
    async publishAll(deliveries) {
      const outgoing = deliveries.map((d) => {
        const message = replyMessage(d);
        return { topic: d.topic, message, bytes: messageBytes(message) };
      });
      try {
        for (const chunk of byteCappedChunks(outgoing, (o) => o.bytes)) {
          await sendTraced(tracing, chunk, (sent) => {
            const byTopic = new Map<string, Message[]>();
            chunk.forEach((o, i) => {
              const list = byTopic.get(o.topic);
              if (list) list.push(sent[i]!);
              else byTopic.set(o.topic, [sent[i]!]);
            });
            return producer.sendBatch(
              { acks: -1, compression: compressionFor(chunk.reduce((n, o) => n + o.bytes, 0)), topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) },
              { renewOn: (error) => ['missing-topic', 'other'].includes(classifySendError(error).failure) },
            );
          });
        }
      } catch (error) {
        const { failure, detail } = classifySendError(error);
        throw new ReplyNotPublished(failure, `replies not published (${detail})`, { cause: error });
      }
    },
  };
}

/** The reply queue's publisher: one reply, in the trace of the command it answers (the delivery's `traceparent`). */
export function kafkaReplyPublisher(producer: RenewableProducer, tracing: PublishTracing = untracedPublishing): ReplyPublisher {
  return {
    async publish(delivery) {
      const { topic } = delivery;
      const message = replyMessage(delivery);
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
