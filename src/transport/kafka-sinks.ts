import type { Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { CommandDlqReason, Metrics } from '../metrics.js';
import type { DeadLetterSink, ReplyPublisher } from '../pipeline/ports.js';
import { sendDeadLetters } from './dead-letters.js';

// The pipeline's Kafka-facing ports: publishing a reply, and dead-lettering an unreadable command.

export function kafkaReplyPublisher(producer: Producer): ReplyPublisher {
  return {
    async publish({ topic, reply }) {
      await producer.send({
        topic,
        acks: -1,
        messages: [{ key: reply.commandId, value: JSON.stringify(reply), headers: reply.correlationId !== undefined ? { 'correlation-id': reply.correlationId } : {} }],
      });
    },
  };
}

export function kafkaDeadLetterSink(options: { producer: Producer; topic: string; logger: Logger; metrics: Metrics }): DeadLetterSink {
  return {
    async send(letters) {
      if (!letters.length) return;
      const copies = letters.map((l) => ({
        key: l.key,
        value: l.value,
        headers: l.headers,
        dlqHeaders: { 'x-dlq-reason': l.reason, 'x-original-topic': l.sourceTopic, 'x-original-partition': String(l.partition), 'x-original-offset': l.offset },
      }));
      await sendDeadLetters(options.producer, options.topic, copies);
      for (const l of letters) {
        options.logger.warn({ partition: l.partition, offset: l.offset, reason: l.reason }, 'unreadable command sent to the DLQ');
        const reason: CommandDlqReason = l.reason.startsWith('not JSON') ? 'not_json' : 'no_id';
        options.metrics.dlq.inc({ source: 'commands', reason });
      }
    },
  };
}
