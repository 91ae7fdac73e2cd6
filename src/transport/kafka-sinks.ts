import type { Kafka, Message, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DeadLetterSink, ReplyPublisher } from '../pipeline/ports.js';
import { ReplyNotPublished } from '../pipeline/replies.js';
import { parkDeadLetter, type DeadLetterCopy } from '../models/parked.js';
import { byteCappedChunks, classifySendError, compressionFor, messageBytes } from './kafka-limits.js';
import { RenewableProducer } from './renewable-producer.js';

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

export function kafkaReplyPublisher(producer: RenewableProducer): ReplyPublisher {
  return {
    async publish({ topic, reply }) {
      const message: Message = { key: reply.commandId, value: JSON.stringify(reply), headers: reply.correlationId !== undefined ? { 'correlation-id': reply.correlationId } : {} };
      try {
        await producer.sendBatch(
          { acks: -1, compression: compressionFor(messageBytes(message)), topicMessages: [{ topic, messages: [message] }] },
          // A missing topic may be one deleted since this producer sent to it, which fails its every metadata refresh.
          { renewOn: (error) => ['missing-topic', 'other'].includes(classifySendError(error).failure) },
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
export function kafkaDeadLetterSink(options: { producer: Producer; topic: string; knex: Knex; logger: Logger; metrics: Metrics }): DeadLetterSink {
  const { producer, topic, knex, logger, metrics } = options;
  const send = (copies: DeadLetterCopy[]) => {
    const messages = copies.map((c) => ({ key: c.key, value: c.value, headers: c.headers }));
    return producer.send({ topic, acks: -1, compression: compressionFor(messages.reduce((n, m) => n + messageBytes(m), 0)), messages });
  };
  const park = async (copy: DeadLetterCopy, error: string) => {
    await parkDeadLetter(knex, copy, error);
    metrics.parkedMessages.inc({ kind: 'dead_letter' });
    logger.error({ partition: copy.partition, offset: copy.offset, bytes: copy.value?.length ?? 0, error }, 'the DLQ topic refused an unreadable command for good; parked (expctl parked list)');
  };
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
        headers: {
          ...(Object.fromEntries(Object.entries(l.headers).filter(([, v]) => v !== undefined)) as Record<string, string>),
          'x-dlq-reason': l.reason,
          'x-original-topic': l.sourceTopic,
          'x-original-partition': String(l.partition),
          'x-original-offset': l.offset,
        },
        reason: l.reason,
      }));
      const parked = new Set<DeadLetterCopy>();
      for (const chunk of byteCappedChunks(copies, (c) => messageBytes(c))) {
        try {
          await send(chunk);
        } catch (error) {
          if (classifySendError(error).failure !== 'refused') throw error;
          for (const copy of chunk) {
            try {
              await send([copy]);
            } catch (single) {
              const { failure, detail } = classifySendError(single);
              if (failure !== 'refused') throw single;
              await park(copy, detail);
              parked.add(copy);
            }
          }
        }
      }
      for (const copy of copies) {
        if (parked.has(copy)) continue;
        logger.warn({ partition: copy.partition, offset: copy.offset, reason: copy.reason }, 'unreadable command sent to the DLQ');
        metrics.dlq.inc({ source: 'commands', reason: copy.reason.startsWith('not JSON') ? 'not_json' : 'no_id' });
      }
    },
  };
}
