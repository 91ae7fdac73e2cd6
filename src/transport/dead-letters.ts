import type { Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { parkDeadLetter, type DeadLetterCopy } from '../models/parked.js';
import { byteCappedChunks, classifySendError, compressionFor, messageBytes } from './kafka-limits.js';
import { untracedPublishing, type PublishTracing } from './publish-tracing.js';

// Sending copies of messages to a DLQ topic (CONTRACT.md: the original key, value and headers, plus x-dlq-reason and
// x-original-topic/-partition/-offset), for both DLQs. The broker bounds each record batch (max.message.bytes), and
// kafkajs puts all the messages of one send for one partition into one batch: an uncapped batch of rejects, or one
// reject near the limit plus our headers, would be refused for good, and a consumer that must get its rejects out
// before committing would retry it for ever.

export interface DeadLetterSender {
  producer: Producer;
  knex: Knex;
  logger: Logger;
  metrics: Pick<Metrics, 'parkedMessages'>;
  /** Keeps the kafkajs instrumentation from replacing a copy's original `traceparent` with a span of its own. */
  tracing?: PublishTracing;
}

/**
 * Sends `copies` (all to one DLQ topic) in order, in sends capped in bytes. A send the broker refuses for good is
 * repeated one copy at a time, and a copy it still refuses is parked in Postgres with its bytes (`expctl parked`):
 * durable either way, so the source offset can be committed. Other errors (an unreachable broker) are thrown.
 * Returns the copies that were parked.
 */
export async function sendDeadLetters(sender: DeadLetterSender, copies: DeadLetterCopy[]): Promise<Set<DeadLetterCopy>> {
  const parked = new Set<DeadLetterCopy>();
  const send = (chunk: DeadLetterCopy[]) => {
    const messages = chunk.map((c) => ({ key: c.key, value: c.value, headers: c.headers }));
    const request = { topic: chunk[0]!.topic, acks: -1, compression: compressionFor(messages.reduce((n, m) => n + messageBytes(m), 0)), messages };
    return (sender.tracing ?? untracedPublishing).send(() => sender.producer.send(request));
  };
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
          await parkDeadLetter(sender.knex, copy, detail);
          sender.metrics.parkedMessages.inc({ kind: 'dead_letter' });
          sender.logger.error({ topic: copy.topic, partition: copy.partition, offset: copy.offset, bytes: copy.value?.length ?? 0, error: detail }, 'the DLQ topic refused a copy for good; parked (expctl parked list)');
          parked.add(copy);
        }
      }
    }
  }
  return parked;
}

/** A copy's headers: the original ones (as text), and ours, which win over originals of the same name. */
export function deadLetterHeaders(original: Record<string, string | undefined>, ours: Record<string, string>): Record<string, string> {
  const kept = Object.fromEntries(Object.entries(original).filter((e): e is [string, string] => e[1] !== undefined));
  return { ...kept, ...ours };
}
