import { createHmac, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AssignerProtocol, Kafka, logLevel, type Admin, type Consumer, type Message, type Producer } from 'kafkajs';
import { dropKafkajsTimeoutWarning } from '../../src/transport/kafka.js';

// The bench's side of the wire (the contract's envelope, signature headers and replies), written against
// kafkajs alone so that it measures any version of the worker unchanged.

// Errors reach the bench as exceptions; kafkajs's own log lines (retried coordinator look-ups) would only be noise.
export function benchKafka(brokers: string[], clientId: string): Kafka {
  dropKafkajsTimeoutWarning();
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
}

export interface SigningKey {
  keyId: string;
  secret: string;
}

export interface BenchCommand {
  type: string;
  environment?: string;
  payload: unknown;
}

/** A signed command message for an explicit partition (the bench spreads its keys evenly, see tenants.ts). */
export function signedMessage(key: SigningKey, command: BenchCommand, partition: number, id = randomUUID()): { id: string; message: Message } {
  const envelope = { id, type: command.type, ...(command.environment ? { environment: command.environment } : {}), actor: { type: 'system', id: 'bench' }, payload: command.payload, sentAt: new Date().toISOString() };
  const value = Buffer.from(JSON.stringify(envelope));
  const signature = `sha256=${createHmac('sha256', key.secret).update(value).digest('hex')}`;
  return { id, message: { partition, key: command.environment ?? null, value, headers: { 'x-key-id': key.keyId, 'x-signature': signature } } };
}

export interface ReplySeen {
  status: number;
  atMs: number;
}

/**
 * Follows the replies topic and calls back the waiter of each command id once (replies are at least once:
 * a second copy is ignored). Waiters are registered before their command is sent.
 */
export class ReplyCollector {
  private readonly waiters = new Map<string, (reply: ReplySeen) => void>();
  private readonly consumer: Consumer;
  received = 0;

  constructor(kafka: Kafka, private readonly topic: string, groupId: string) {
    this.consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 20, minBytes: 1 });
  }

  /** Resolves once this consumer has joined its group and been assigned the topic. */
  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    let joined!: () => void;
    const groupJoined = new Promise<void>((resolve) => (joined = resolve));
    const off = this.consumer.on(this.consumer.events.GROUP_JOIN, () => joined());
    // No offset commits: the collector's group is new each run and reads from the beginning. kafkajs would
    // otherwise commit after every batch, one partition after another, before the next fetch, and that wait
    // would be counted as the worker's latency.
    await this.consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const atMs = performance.now();
        for (const message of batch.messages) {
          const reply = parseReply(message.value);
          if (!reply) continue;
          this.received++;
          const waiter = this.waiters.get(reply.commandId);
          if (waiter) {
            this.waiters.delete(reply.commandId);
            waiter({ status: reply.status, atMs });
          }
        }
      },
    });
    await groupJoined;
    off();
  }

  expect(id: string, onReply: (reply: ReplySeen) => void): void {
    this.waiters.set(id, onReply);
  }

  forget(id: string): void {
    this.waiters.delete(id);
  }

  /** Resolves with the reply of `id` (registered now), or rejects after `timeoutMs`. */
  waitFor(id: string, timeoutMs: number): Promise<ReplySeen> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.forget(id);
        reject(new Error(`no reply to ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.expect(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
    });
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }
}

function parseReply(value: Buffer | null): { commandId: string; status: number } | undefined {
  if (!value) return undefined;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { commandId?: unknown; status?: unknown };
    return typeof parsed.commandId === 'string' && typeof parsed.status === 'number' ? { commandId: parsed.commandId, status: parsed.status } : undefined;
  } catch {
    return undefined;
  }
}

export async function createTopics(admin: Admin, topics: { topic: string; numPartitions: number }[]): Promise<void> {
  await admin.createTopics({ topics: topics.map((t) => ({ ...t, replicationFactor: 1 })), waitForLeaders: true });
}

/** How the group's members share `topic` (partitions per member id), when the group is Stable. */
export async function groupAssignment(admin: Admin, groupId: string, topic: string): Promise<{ memberId: string; partitions: number[] }[] | undefined> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (!group || group.state !== 'Stable') return undefined;
  return group.members.map((member) => {
    const decoded = AssignerProtocol.MemberAssignment.decode(member.memberAssignment);
    return { memberId: member.memberId, partitions: decoded?.assignment[topic] ?? [] };
  });
}

export async function sendMessages(producer: Producer, topic: string, messages: Message[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages });
}
