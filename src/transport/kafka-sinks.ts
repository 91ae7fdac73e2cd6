import type { IHeaders, Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { DeadLetterSink, ReplyPublisher } from '../pipeline/ports.js';

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
      await options.producer.send({
        topic: options.topic,
        acks: -1,
        messages: letters.map((l) => {
          const headers: IHeaders = {
            ...Object.fromEntries(Object.entries(l.headers).filter(([, v]) => v !== undefined)),
            'x-dlq-reason': l.reason,
            'x-original-topic': l.sourceTopic,
            'x-original-partition': String(l.partition),
            'x-original-offset': l.offset,
          };
          return { key: l.key, value: l.value, headers };
        }),
      });
      for (const l of letters) {
        options.logger.warn({ partition: l.partition, offset: l.offset, reason: l.reason }, 'unreadable command sent to the DLQ');
        options.metrics.dlq.inc({ source: 'commands', reason: l.reason.startsWith('not JSON') ? 'not_json' : 'no_id' });
      }
    },
  };
}
