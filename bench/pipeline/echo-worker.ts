import { benchKafka } from './kafka-io.js';

// The "kafkajs echo" baseline's process (started by baselines.ts): consume → produce with kafkajs and nothing
// else (no database, no Redis), one reply per message as the worker sends, with the worker's concurrency.
// Prints "ready" once its consumer has joined the group and been given its partitions.
const [brokers, inTopic, outTopic, group, concurrency] = process.argv.slice(2) as [string, string, string, string, string];
const kafka = benchKafka(brokers.split(','), 'bench-echo');
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100 });
await consumer.connect();
await consumer.subscribe({ topic: inTopic, fromBeginning: true });
consumer.on(consumer.events.GROUP_JOIN, () => console.log('ready'));
await consumer.run({
  partitionsConsumedConcurrently: Number(concurrency),
  eachMessage: async ({ message }) => {
    const id = JSON.parse(message.value!.toString()).id as string;
    await producer.send({ topic: outTopic, acks: -1, messages: [{ key: id, value: JSON.stringify({ commandId: id, status: 201 }) }] });
  },
});
const stop = async () => {
  await consumer.disconnect();
  await producer.disconnect();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
