import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Admin, Kafka } from 'kafkajs';
import { createTopics, sendMessages } from './kafka-io.js';
import { spawnNode, stopChild } from './processes.js';
import { processCpuSeconds } from './proc-stats.js';

// The "kafkajs echo" baseline: a process that consumes each message and produces a reply (echo-worker.ts), with
// no database and no Redis. N messages sent at once, first send → last reply, like the worker's throughput.

export interface EchoBaseline {
  messages: number;
  seconds: number;
  perSecond: number;
  echoCpuSeconds: number;
}

export interface EchoSetup {
  kafka: Kafka;
  admin: Admin;
  brokers: string;
  prefix: string;
  partitions: number;
  concurrency: number;
  logDir: string;
}

export async function echoBaseline(setup: EchoSetup, n: number): Promise<EchoBaseline> {
  const inTopic = `${setup.prefix}echo.in`;
  const outTopic = `${setup.prefix}echo.out`;
  await createTopics(setup.admin, [
    { topic: inTopic, numPartitions: setup.partitions },
    { topic: outTopic, numPartitions: 3 },
  ]);
  const echo = spawnNode('echo worker', [fileURLToPath(new URL('./echo-worker.ts', import.meta.url)), setup.brokers, inTopic, outTopic, `${setup.prefix}echo`, String(setup.concurrency)], {}, join(setup.logDir, 'echo-worker.log'));
  try {
    await new Promise<void>((resolve, reject) => {
      echo.process.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
      void echo.exited.then((code) => reject(new Error(`echo worker exited with ${code} before it was ready`)));
    });
    let received = 0;
    let lastAt = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const reader = setup.kafka.consumer({ groupId: `${setup.prefix}echo.reader`, maxWaitTimeInMs: 20 });
    await reader.connect();
    await reader.subscribe({ topic: outTopic, fromBeginning: true });
    const joined = new Promise<void>((resolve) => reader.on(reader.events.GROUP_JOIN, () => resolve()));
    // No offset commits, as in the reply collector (kafka-io.ts): the reader is a measuring instrument.
    await reader.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        received += batch.messages.length;
        lastAt = performance.now();
        if (received >= n) finish();
      },
    });
    await joined;
    const producer = setup.kafka.producer();
    await producer.connect();
    const bodies = Array.from({ length: n }, (_, i) => ({ partition: i % setup.partitions, value: JSON.stringify({ id: randomUUID(), type: 'metric.create', payload: { name: `Metric ${i}` } }) }));
    const cpuBefore = processCpuSeconds(echo.pid);
    const started = performance.now();
    for (let i = 0; i < n; i += 1000) await sendMessages(producer, inTopic, bodies.slice(i, i + 1000).map((b, j) => ({ ...b, key: `k${(i + j) % 12}` })));
    await finished;
    const seconds = (lastAt - started) / 1000;
    const echoCpuSeconds = processCpuSeconds(echo.pid) - cpuBefore;
    await producer.disconnect();
    await reader.disconnect();
    return { messages: n, seconds, perSecond: n / seconds, echoCpuSeconds };
  } finally {
    await stopChild(echo);
  }
}
