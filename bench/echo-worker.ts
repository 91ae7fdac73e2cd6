import { createKafka } from '../src/transport/kafka.js';
import { createLogger } from '../src/logger.js';

// Baseline for bench/pipeline.ts: consume → produce with kafkajs and nothing else (no database, no Redis),
// with the same consumer settings as the worker's command consumer.
const [brokers, inTopic, outTopic, group, concurrency] = process.argv.slice(2) as [string, string, string, string, string];
const logger = createLogger('warn');
const kafka = createKafka(brokers.split(','), logger, 'bench-echo');
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
await consumer.connect();
await consumer.subscribe({ topic: inTopic, fromBeginning: true });
await consumer.run({
  partitionsConsumedConcurrently: Number(concurrency),
  eachMessage: async ({ message }) => {
    const id = JSON.parse(message.value!.toString()).id as string;
    await producer.send({ topic: outTopic, acks: -1, messages: [{ key: id, value: JSON.stringify({ commandId: id }) }] });
  },
});
console.log('ready');
const stop = async () => {
  await consumer.disconnect();
  await producer.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
