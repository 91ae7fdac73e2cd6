import { randomUUID } from 'node:crypto';
import type { Consumer } from 'kafkajs';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';

/** A Kafka message as a test looks at it: value text and headers as strings. */
export interface SeenMessage {
  topic: string;
  value: string;
  headers: Record<string, string>;
}

/**
 * Follows topics from their beginning with a consumer group of its own, keeping every message with its headers:
 * the tests read the `traceparent` the worker put on its replies and events.
 */
export class TopicReader {
  readonly messages: SeenMessage[] = [];
  private consumer: Consumer | undefined;
  constructor(private readonly brokers: string[]) {}

  async start(topics: string[]): Promise<void> {
    const kafka = createKafka(this.brokers, createLogger('error'), 'trace-test-reader');
    this.consumer = kafka.consumer({ groupId: `trace-test-${randomUUID()}`, maxWaitTimeInMs: 50 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(message.headers ?? {})) if (value !== undefined) headers[name] = String(value);
        this.messages.push({ topic, value: message.value?.toString('utf8') ?? '', headers });
      },
    });
  }

  /** The first message of `topic` whose JSON value has `field` equal to `value`. */
  find(topic: string, field: string, value: string): SeenMessage | undefined {
    return this.messages.find((m) => m.topic === topic && (JSON.parse(m.value) as Record<string, unknown>)[field] === value);
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}
