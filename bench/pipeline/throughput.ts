import { performance } from 'node:perf_hooks';
import { sendMessages, signedMessage } from './kafka-io.js';
import { metricCreate, type Tenants, type Wire } from './tenants.js';

// Closed batch: N commands produced as fast as the producer takes them, timed from the first send to the last
// reply. The queue in Kafka is what keeps the workers busy; this is their capacity.

export interface Throughput {
  commands: number;
  seconds: number;
  perSecond: number;
  /** Replies whose status was not 201. */
  errors: number;
}

export async function measureThroughput(wire: Wire, tenants: Tenants, n: number, offset: number, progress: (message: string) => void): Promise<Throughput> {
  const signed = Array.from({ length: n }, (_, i) => {
    const { command, partition } = metricCreate(tenants, offset + i);
    return signedMessage(wire.key, command, partition);
  });
  let answered = 0;
  let errors = 0;
  let lastAt = 0;
  let finish!: () => void;
  const allAnswered = new Promise<void>((resolve) => (finish = resolve));
  const step = Math.max(1000, Math.round(n / 4 / 1000) * 1000);
  for (const { id } of signed) {
    wire.collector.expect(id, (reply) => {
      if (reply.status !== 201) errors++;
      lastAt = reply.atMs;
      if (++answered % step === 0 && answered < n) progress(`${answered}/${n} replies`);
      if (answered === n) finish();
    });
  }
  const started = performance.now();
  for (let i = 0; i < n; i += 1000) await sendMessages(wire.producer, wire.commandsTopic, signed.slice(i, i + 1000).map((s) => s.message));
  await allAnswered;
  const seconds = (lastAt - started) / 1000;
  return { commands: n, seconds, perSecond: n / seconds, errors };
}
