import { randomInt, randomUUID } from 'node:crypto';
import type { Kafka, Message, Producer } from 'kafkajs';
import { sign } from '../../../src/client/index.js';
import { delay } from './wait.js';

// The command stream of a chaos run, built so that the outcome can be checked: per message key (an
// environment) a sequence of `metric.create` commands named `<key>-<seq>`, with the command id as the
// metric's description. Each command creates exactly one metric, one audit row and one `metric.created`
// event; per key the events' seq must increase.

export const CHAOS_ACTOR = { type: 'system', id: 'chaos' } as const;

export interface SigningKey {
  keyId: string;
  secret: string;
}

export interface PlannedCommand {
  id: string;
  index: number;
  /** The message key and the command's environment. */
  key: string;
  /** Position among the commands of its key, from 0. */
  seq: number;
  /** When it was handed to Kafka (ms since epoch); 0 until then. */
  sentAt: number;
}

export interface CommandPlan {
  organisationId: number;
  projectId: number;
  environments: string[];
  commands: PlannedCommand[];
  byId: Map<string, PlannedCommand>;
}

/** `total` commands over `keys` environments, round-robin, so every key is busy all along the stream. */
export function planCommands(run: string, total: number, keys: number): CommandPlan {
  const environments = Array.from({ length: keys }, (_, i) => `chaos-${run}-k${String(i).padStart(3, '0')}`);
  const commands = Array.from({ length: total }, (_, index) => ({ id: randomUUID(), index, key: environments[index % keys]!, seq: Math.floor(index / keys), sentAt: 0 }));
  return { organisationId: randomInt(1e6, 2e9), projectId: randomInt(1e6, 2e9), environments, commands, byId: new Map(commands.map((c) => [c.id, c])) };
}

export const metricName = (command: Pick<PlannedCommand, 'key' | 'seq'>) => `${command.key}-${command.seq}`;

interface Envelope {
  id: string;
  type: string;
  environment?: string;
  payload: unknown;
}

function signedMessage(envelope: Envelope, key: string, signing: SigningKey): Message {
  const value = Buffer.from(JSON.stringify({ ...envelope, actor: CHAOS_ACTOR, sentAt: new Date().toISOString() }));
  return { key, value, headers: { 'x-key-id': signing.keyId, 'x-signature': sign(value, signing.secret) } };
}

/** The envelope of a planned command. No `replyTo`: replies go to the worker's default replies topic. */
export function metricCreateEnvelope(command: PlannedCommand): Envelope {
  return {
    id: command.id,
    type: 'metric.create',
    environment: command.key,
    payload: { name: metricName(command), description: command.id, aggregation: 'occurrence', definition: { version: 1, event: 'chaos' } },
  };
}

/** The platform commands that make the plan's environments exist with experimentation on, in order. */
export function tenantEnvelopes(plan: CommandPlan): Envelope[] {
  const { organisationId, projectId } = plan;
  return [
    { id: randomUUID(), type: 'organisation.upsert', payload: { id: organisationId, name: `Chaos ${organisationId}`, experimentationEnabled: true } },
    { id: randomUUID(), type: 'project.upsert', payload: { id: projectId, organisationId, name: 'Chaos' } },
    ...plan.environments.map((key) => ({ id: randomUUID(), type: 'environment.upsert', payload: { key, projectId, name: key } })),
  ];
}

/**
 * Sends signed commands in order, one request in flight, and keeps trying a request the broker did not take
 * (the soak stops the broker). A retried request can duplicate commands on the topic: the worker's
 * idempotency (same id) makes those no-ops, and per key the first copies stay in order.
 */
export class CommandSender {
  private readonly producer: Producer;
  sendRetries = 0;

  constructor(kafka: Kafka, private readonly topic: string, private readonly signing: SigningKey, private readonly onRetry?: (error: Error) => void) {
    this.producer = kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }

  async sendPlatform(envelopes: Envelope[], organisationId: number): Promise<void> {
    await this.sendUntilTaken(envelopes.map((e) => signedMessage(e, String(organisationId), this.signing)));
  }

  /** Sends planned commands in order, `batch` per request, as fast as the broker takes them. */
  async sendPlan(commands: PlannedCommand[], options: { batch?: number; onBatch?: (sent: number) => void } = {}): Promise<void> {
    const batch = options.batch ?? 200;
    for (let i = 0; i < commands.length; i += batch) {
      const slice = commands.slice(i, i + batch);
      await this.sendUntilTaken(slice.map((c) => signedMessage(metricCreateEnvelope(c), c.key, this.signing)));
      const now = Date.now();
      for (const c of slice) c.sentAt = now;
      options.onBatch?.(i + slice.length);
    }
  }

  private async sendUntilTaken(messages: Message[], giveUpAfterMs = 300_000): Promise<void> {
    const deadline = Date.now() + giveUpAfterMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.producer.send({ topic: this.topic, acks: -1, messages });
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        this.sendRetries++;
        this.onRetry?.(error as Error);
        await delay(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)));
      }
    }
  }
}
