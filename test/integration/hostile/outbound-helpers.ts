import { randomBytes, randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage, Message } from 'kafkajs';
import { ensureTopics } from '../../../src/transport/kafka.js';
import { sign } from '../../../src/pipeline/signature.js';
import type { ParkedKind } from '../../../src/metrics.js';
import { testKeys } from '../env.js';
import { topicPrefixOf, type TestWorker } from '../harness.js';

// What the outbound tests share: text that gzip cannot shrink much, topics with a limit of their own, reading a
// topic from its start, signed command messages, the parked-message metrics.

/** `bytes` characters of base64 noise: about 3/4 of it survives gzip, so sizes stay near what they look like. */
export const noise = (bytes: number): string => randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);

/** Creates `topic` (1 partition), with a max.message.bytes of its own when given. */
export async function createTopic(kafka: Kafka, topic: string, maxMessageBytes?: number): Promise<void> {
  const configEntries = maxMessageBytes === undefined ? undefined : [{ name: 'max.message.bytes', value: String(maxMessageBytes) }];
  await ensureTopics(kafka, [{ topic, numPartitions: 1, ...(configEntries ? { configEntries } : {}) }]);
}

/** Reads `topic` from its start until `done(messages so far)` holds; throws after `timeoutMs`. */
export async function readTopic(
  kafka: Kafka,
  env: Record<string, string>,
  topic: string,
  done: (messages: KafkaMessage[]) => boolean,
  timeoutMs = 30_000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `${topicPrefixOf(env)}reader-${randomUUID().slice(0, 8)}`, maxWaitTimeInMs: 100 });
  const messages: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    await consumer.run({
      eachMessage: async ({ message }) => {
        messages.push(message);
        if (done(messages)) finish();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${topic}: condition not met within ${timeoutMs} ms (${messages.length} messages read)`)), timeoutMs);
    });
    await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
    return messages;
  } finally {
    await consumer.disconnect();
  }
}

/** A commands-topic message carrying `envelope`, signed with the test system key. */
export function signedCommand(envelope: Record<string, unknown>, key: string | null): Message {
  const value = Buffer.from(JSON.stringify(envelope));
  return { key, value, headers: { 'x-key-id': testKeys.system.keyId, 'x-signature': sign(value, testKeys.system.secret) } };
}

/** expw_messages_parked_total and expw_parked_messages of a kind, as /metrics would show them now. */
export async function parkedMetrics(worker: TestWorker, kind: ParkedKind): Promise<{ total: number; now: number }> {
  const { parkedMessages, parkedNow } = worker.app.metrics;
  const value = (m: Awaited<ReturnType<typeof parkedMessages.get>>) => m.values.find((v) => v.labels.kind === kind)?.value ?? 0;
  return { total: value(await parkedMessages.get()), now: value(await parkedNow.get()) };
}
