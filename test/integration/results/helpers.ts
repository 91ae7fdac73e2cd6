import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import type { Knex } from 'knex';
import { expect } from 'vitest';
import type { ExperimentationClient, DomainEvent } from '../../../src/client/index.js';
import type { Actor } from '../../../src/contracts/envelope.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import type { Config } from '../../../src/config.js';

// Shared by the results integration tests: producing tracking events, sending results commands, and an
// independent, row-by-row implementation of DOMAIN.md "Results" to check the SQL against.

export interface TrackingInput {
  event: string;
  identifier: string;
  feature?: string;
  value?: string | number;
  at: Date;
}

export async function trackingProducer(config: Config): Promise<Producer> {
  const producer = createKafka(config.KAFKA_BROKERS, createLogger('warn'), 'results-test-producer').producer();
  await producer.connect();
  return producer;
}

export interface CollectedMessage {
  partition: number;
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Collects every message of `topic`, from its beginning, into `messages` (in order per partition) until `stop`. */
export async function collectTopic(config: Config, topic: string): Promise<{ messages: CollectedMessage[]; stop(): Promise<void> }> {
  const messages: CollectedMessage[] = [];
  const consumer = createKafka(config.KAFKA_BROKERS, createLogger('warn'), 'topic-collector').consumer({ groupId: `collector-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(Array.isArray(v) ? v[0] : v);
      messages.push({ partition, offset: message.offset, key: message.key?.toString('utf8') ?? null, value: message.value ?? null, headers });
    },
  });
  return { messages, stop: () => consumer.disconnect() };
}

export async function produceTracking(producer: Producer, topic: string, environment: string, events: TrackingInput[]): Promise<void> {
  for (let i = 0; i < events.length; i += 500) {
    await producer.send({
      topic,
      acks: -1,
      messages: events.slice(i, i + 500).map((e) => ({
        key: environment,
        value: JSON.stringify({
          environment,
          event: e.event,
          identifier: e.identifier,
          ...(e.feature !== undefined ? { feature: e.feature } : {}),
          ...(e.value !== undefined ? { value: e.value } : {}),
          timestamp: e.at.toISOString(),
        }),
      })),
    });
  }
}

/** Waits until the environment has `count` tracking rows stored. */
export async function waitForStored(knex: Knex, environment: string, count: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let stored = -1;
  while (Date.now() < deadline) {
    const row = await knex('tracking_events as t').join('environments as e', 'e.id', 't.environment_id').where('e.key', environment).count({ n: '*' }).first();
    stored = Number(row?.n ?? 0);
    if (stored >= count) {
      expect(stored).toBe(count);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`only ${stored} of ${count} tracking events stored for ${environment}`);
}

export function commandSender(client: ExperimentationClient, environment: string, actor: Actor) {
  return async (type: string, payload: unknown) => client.send({ type, environment, actor, payload });
}

export async function createMetric(send: ReturnType<typeof commandSender>, payload: Record<string, unknown>): Promise<number> {
  const reply = await send('metric.create', payload);
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  return (reply.body as { id: number }).id;
}

/** The first `experiment.results.computed` / `.failed` event of the experiment at or after `since` (ISO). */
export function waitForResultsEvent(client: ExperimentationClient, type: 'experiment.results.computed' | 'experiment.results.failed', experimentId: number, since: string): Promise<DomainEvent> {
  return client.waitForEvent(
    (e) => {
      const data = e.data as { experimentId?: number; asOf?: string | null; lastErrorAt?: string | null };
      if (e.type !== type || data.experimentId !== experimentId) return false;
      const at = type === 'experiment.results.computed' ? data.asOf : data.lastErrorAt;
      return typeof at === 'string' && at >= since;
    },
    { timeout: 30_000 },
  );
}

export const uniqueName = (prefix: string) => `${prefix}_${randomUUID().slice(0, 8)}`;

/**
 * An experiment created by command, then put straight into `state` in the database: results tests need dates in
 * the past, which no command sets. A completed or deleted one leaves the feature free for the next.
 */
export async function experimentInState(
  knex: Knex,
  send: ReturnType<typeof commandSender>,
  featureId: number,
  state: { status: 'running' | 'paused' | 'completed'; startedAt: Date; endedAt?: Date; deletedAt?: Date },
): Promise<number> {
  const reply = await send('experiment.create', { featureId, name: uniqueName('stored'), hypothesis: 'h' });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  const id = (reply.body as { id: number }).id;
  await knex('experiments')
    .where('id', id)
    .update({ status: state.status, started_at: state.startedAt, ended_at: state.endedAt ?? null, deleted_at: state.deletedAt ?? null });
  return id;
}

// ---------------------------------------------------------------------------------------------------------------
// DOMAIN.md "Results", written out plainly over an in-memory list of events (the reference for the SQL).

export type Aggregation = 'occurrence' | 'count' | 'sum' | 'mean';

export interface ReferenceArm {
  n: number;
  sum: number;
  sumSquares: number;
  pre: { n: number; sumX: number; sumX2: number; sumXY: number };
}

export function referenceResults(
  events: TrackingInput[],
  experiment: { feature: string; exposureEvent: string; variants: string[]; from: Date; to: Date; lookbackDays: number },
  metrics: { event: string; aggregation: Aggregation }[],
): { exposures: Record<string, number>; metrics: Record<string, ReferenceArm>[] } {
  const inWindow = (at: Date) => at >= experiment.from && at <= experiment.to;
  const seen = new Map<string, { variants: Set<string>; first: Date }>();
  for (const e of events) {
    if (e.event !== experiment.exposureEvent || e.feature !== experiment.feature || typeof e.value !== 'string') continue;
    if (!experiment.variants.includes(e.value) || !inWindow(e.at)) continue;
    const entry = seen.get(e.identifier) ?? { variants: new Set<string>(), first: e.at };
    entry.variants.add(e.value);
    if (e.at < entry.first) entry.first = e.at;
    seen.set(e.identifier, entry);
  }
  const exposed = [...seen].filter(([, s]) => s.variants.size === 1).map(([identifier, s]) => ({ identifier, variant: [...s.variants][0]!, first: s.first }));
  const exposures = Object.fromEntries(experiment.variants.map((v) => [v, exposed.filter((x) => x.variant === v).length]));
  const lookbackMs = experiment.lookbackDays * 86_400_000;
  const valueOf = (aggregation: Aggregation, list: TrackingInput[]) => {
    const numbers = list.map((e) => e.value).filter((v): v is number => typeof v === 'number');
    const total = numbers.reduce((a, b) => a + b, 0);
    switch (aggregation) {
      case 'occurrence':
        return list.length > 0 ? 1 : 0;
      case 'count':
        return list.length;
      case 'sum':
        return total;
      case 'mean':
        return numbers.length ? total / numbers.length : 0;
    }
  };
  const perMetric = metrics.map((metric) => {
    const arms: Record<string, ReferenceArm> = Object.fromEntries(
      experiment.variants.map((v) => [v, { n: 0, sum: 0, sumSquares: 0, pre: { n: 0, sumX: 0, sumX2: 0, sumXY: 0 } }]),
    );
    for (const x of exposed) {
      const own = events.filter((e) => e.identifier === x.identifier && e.event === metric.event);
      const after = own.filter((e) => e.at >= x.first && e.at <= experiment.to);
      const before = own.filter((e) => e.at < x.first && e.at.getTime() >= x.first.getTime() - lookbackMs);
      const y = valueOf(metric.aggregation, after);
      const xv = valueOf(metric.aggregation, before);
      const arm = arms[x.variant]!;
      arm.n += 1;
      arm.sum += y;
      arm.sumSquares += y * y;
      if (before.length) arm.pre.n += 1;
      arm.pre.sumX += xv;
      arm.pre.sumX2 += xv * xv;
      arm.pre.sumXY += xv * y;
    }
    return arms;
  });
  return { exposures, metrics: perMetric };
}

/** DOMAIN.md's Flagsmith formula: lift and its 95 % interval of treatment against control. */
export function flagsmithLift(control: { n: number; sum: number; sumSquares: number }, treatment: { n: number; sum: number; sumSquares: number }) {
  const mean = (a: { n: number; sum: number }) => a.sum / a.n;
  const variance = (a: { n: number; sum: number; sumSquares: number }) => Math.max(0, (a.sumSquares - (a.sum * a.sum) / a.n) / (a.n - 1));
  const mc = mean(control);
  const mt = mean(treatment);
  const lift = (mt - mc) / mc;
  const v = variance(treatment) / (treatment.n * mc * mc) + (mt * mt * variance(control)) / (control.n * mc ** 4);
  const se = Math.sqrt(v);
  const z = 1.959963984540054;
  return { lift, ciLow: lift - z * se, ciHigh: lift + z * se };
}
