import type { Producer } from 'kafkajs';
import { sendMessages, signedMessage, type BenchCommand, type ReplyCollector, type SigningKey } from './kafka-io.js';

// The bench's tenants (one organisation, one project, K environments) and its commands. Environment i is the
// message key of its commands and goes to partition i mod P, so every partition gets the same number of keys.

export interface Tenants {
  organisationId: number;
  projectId: number;
  environments: { key: string; partition: number }[];
}

export function benchTenants(run: string, environmentCount: number, partitions: number, ids: { organisationId: number; projectId: number }): Tenants {
  return {
    ...ids,
    environments: Array.from({ length: environmentCount }, (_, i) => ({ key: `bench-${run}-env-${i}`, partition: i % partitions })),
  };
}

/** The i-th metric.create of a run, round-robin over the environments. */
export function metricCreate(tenants: Tenants, i: number): { command: BenchCommand; partition: number } {
  const env = tenants.environments[i % tenants.environments.length]!;
  return {
    command: { type: 'metric.create', environment: env.key, payload: { name: `Metric ${i}`, aggregation: 'occurrence', definition: { version: 1, event: `event_${i % 50}` } } },
    partition: env.partition,
  };
}

export interface Wire {
  producer: Producer;
  collector: ReplyCollector;
  commandsTopic: string;
  key: SigningKey;
}

/** Sends commands and waits for every reply; throws unless each status is `expected`. */
export async function sendAndAwait(wire: Wire, commands: { command: BenchCommand; partition: number }[], expected: number[], timeoutMs = 60_000): Promise<void> {
  const signed = commands.map((c) => ({ ...signedMessage(wire.key, c.command, c.partition), type: c.command.type }));
  const replies = signed.map((s) => wire.collector.waitFor(s.id, timeoutMs).then((r) => ({ ...r, type: s.type })));
  for (let i = 0; i < signed.length; i += 1000) await sendMessages(wire.producer, wire.commandsTopic, signed.slice(i, i + 1000).map((s) => s.message));
  for (const reply of await Promise.all(replies)) {
    if (!expected.includes(reply.status)) throw new Error(`${reply.type} answered ${reply.status}, expected ${expected.join(' or ')}`);
  }
}

/**
 * Creates (or updates, on a later fleet) the tenants. The environment upserts reach every partition, so their
 * replies are also the proof that each partition is consumed and answered.
 */
export async function upsertTenants(wire: Wire, tenants: Tenants): Promise<void> {
  const { organisationId, projectId } = tenants;
  await sendAndAwait(wire, [{ command: { type: 'organisation.upsert', payload: { id: organisationId, name: 'Bench', experimentationEnabled: true } }, partition: 0 }], [200, 201]);
  await sendAndAwait(wire, [{ command: { type: 'project.upsert', payload: { id: projectId, organisationId, name: 'Bench' } }, partition: 0 }], [200, 201]);
  await sendAndAwait(
    wire,
    tenants.environments.map((e) => ({ command: { type: 'environment.upsert', payload: { key: e.key, projectId, name: 'Bench' } }, partition: e.partition })),
    [200, 201],
  );
}
