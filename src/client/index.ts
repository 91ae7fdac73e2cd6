import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, Producer } from 'kafkajs';
import { eventSchema, replySchema, type Actor, type DomainEvent, type Reply } from '../contracts/envelope.js';
import { sign } from '../pipeline/signature.js';
import { ensureTopics } from '../transport/kafka.js';

// A typed client for services (and tests) that drive the worker: it signs and sends command envelopes,
// resolves each send with the reply matched by command id, and can follow the events topic.

export interface ClientOptions {
  kafka: Kafka;
  /** Signing key (CONTRACT.md COMMAND_KEYS entry). */
  keyId: string;
  secret: string;
  commandsTopic?: string;
  eventsTopic?: string;
  /** The topic this client reads replies from; it is sent as `replyTo`. Defaults to a topic of its own. */
  replyTopic?: string;
  defaultActor?: Actor;
  /** Follow the events topic too (needed for waitForEvent). */
  subscribeToEvents?: boolean;
}

export interface CommandInput {
  type: string;
  environment?: string;
  /** Kafka message key. Defaults to `environment`; CONTRACT.md keys platform commands by organisation id. */
  key?: string;
  actor?: Actor;
  payload?: unknown;
  id?: string;
  replyTo?: string;
  correlationId?: string;
}

export interface SendOptions {
  /** Milliseconds to wait for the reply (default 30 s). */
  timeout?: number;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ExperimentationClient {
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly pendingReplies = new Map<string, Waiter<Reply>[]>();
  private readonly earlyReplies = new Map<string, Reply[]>();
  private readonly eventWaiters = new Set<{ predicate: (e: DomainEvent) => boolean } & Waiter<DomainEvent>>();
  /** Every event seen since the client started (when subscribed to events). */
  readonly events: DomainEvent[] = [];
  readonly replyTopic: string;
  private readonly commandsTopic: string;
  private readonly eventsTopic: string;

  constructor(private readonly options: ClientOptions) {
    this.commandsTopic = options.commandsTopic ?? 'experimentation.commands';
    this.eventsTopic = options.eventsTopic ?? 'experimentation.events';
    this.replyTopic = options.replyTopic ?? `experimentation.client.${randomUUID().slice(0, 8)}.replies`;
    this.producer = options.kafka.producer({ allowAutoTopicCreation: true });
    this.consumer = options.kafka.consumer({ groupId: `experimentation-client-${randomUUID()}`, maxWaitTimeInMs: 50 });
  }

  async connect(): Promise<void> {
    const topics = [this.replyTopic, ...(this.options.subscribeToEvents ? [this.eventsTopic] : [])];
    // Missing ones are created; on a broker that has just started, this waits until they are served.
    await ensureTopics(this.options.kafka, topics.map((topic) => ({ topic, numPartitions: 1 })));
    await this.producer.connect();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.replyTopic, fromBeginning: false });
    if (this.options.subscribeToEvents) await this.consumer.subscribe({ topic: this.eventsTopic, fromBeginning: false });
    let joined!: () => void;
    const groupJoined = new Promise<void>((resolve) => (joined = resolve));
    const off = this.consumer.on(this.consumer.events.GROUP_JOIN, () => joined());
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        const text = message.value?.toString('utf8');
        if (!text) return;
        if (topic === this.replyTopic) this.onReply(text);
        else this.onEvent(text);
      },
    });
    await groupJoined;
    off();
  }

  async disconnect(): Promise<void> {
    for (const waiters of this.pendingReplies.values()) for (const w of waiters) clearTimeout(w.timer);
    for (const w of this.eventWaiters) clearTimeout(w.timer);
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }

  /** Builds the envelope (value bytes), signs it, sends it, and resolves with its reply. */
  async send(input: CommandInput, options: SendOptions = {}): Promise<Reply> {
    const envelope = this.envelope(input);
    const reply = this.waitForReply(envelope.id, options.timeout);
    await this.sendRaw(Buffer.from(JSON.stringify(envelope)), { key: input.key ?? input.environment ?? null });
    return reply;
  }

  /** The envelope `send` would produce for `input` (id, actor, replyTo and sentAt filled in). */
  envelope(input: CommandInput): Record<string, unknown> & { id: string } {
    return {
      id: input.id ?? randomUUID(),
      type: input.type,
      ...(input.environment !== undefined ? { environment: input.environment } : {}),
      actor: input.actor ?? this.options.defaultActor ?? { type: 'system', id: 'client' },
      payload: input.payload ?? {},
      replyTo: input.replyTo ?? this.replyTopic,
      ...(input.correlationId !== undefined ? { correlationId: input.correlationId } : {}),
      sentAt: new Date().toISOString(),
    };
  }

  /** Sends exact bytes (signed with this client's key unless `signature` is given): for tests and tooling. */
  async sendRaw(value: Buffer, options: { key?: string | null; signature?: string | null; keyId?: string | null } = {}): Promise<void> {
    const headers: Record<string, string> = {};
    const keyId = options.keyId === undefined ? this.options.keyId : options.keyId;
    const signature = options.signature === undefined ? sign(value, this.options.secret) : options.signature;
    if (keyId !== null) headers['x-key-id'] = keyId;
    if (signature !== null) headers['x-signature'] = signature;
    await this.producer.send({ topic: this.commandsTopic, acks: -1, messages: [{ key: options.key ?? null, value, headers }] });
  }

  /** Resolves with the next reply for `commandId` that arrives on this client's reply topic. */
  waitForReply(commandId: string, timeout = 30_000): Promise<Reply> {
    const early = this.earlyReplies.get(commandId)?.shift();
    if (early) return Promise.resolve(early);
    return new Promise<Reply>((resolve, reject) => {
      const waiter: Waiter<Reply> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.pendingReplies.set(commandId, (this.pendingReplies.get(commandId) ?? []).filter((w) => w !== waiter));
          reject(new Error(`no reply to command ${commandId} within ${timeout} ms`));
        }, timeout),
      };
      this.pendingReplies.set(commandId, [...(this.pendingReplies.get(commandId) ?? []), waiter]);
    });
  }

  /** Resolves with the first event (already seen, or arriving within `timeout`) that matches. */
  waitForEvent(predicate: (event: DomainEvent) => boolean, options: { timeout?: number } = {}): Promise<DomainEvent> {
    const seen = this.events.find(predicate);
    if (seen) return Promise.resolve(seen);
    const timeout = options.timeout ?? 30_000;
    return new Promise<DomainEvent>((resolve, reject) => {
      const waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.eventWaiters.delete(waiter);
          reject(new Error(`no matching event within ${timeout} ms`));
        }, timeout),
      };
      this.eventWaiters.add(waiter);
    });
  }

  private onReply(text: string): void {
    const parsed = replySchema.safeParse(safeJson(text));
    if (!parsed.success) return;
    const reply = parsed.data;
    const waiters = this.pendingReplies.get(reply.commandId);
    const waiter = waiters?.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(reply);
      if (!waiters!.length) this.pendingReplies.delete(reply.commandId);
    } else {
      this.earlyReplies.set(reply.commandId, [...(this.earlyReplies.get(reply.commandId) ?? []), reply]);
    }
  }

  private onEvent(text: string): void {
    const parsed = eventSchema.safeParse(safeJson(text));
    if (!parsed.success) return;
    this.events.push(parsed.data);
    for (const waiter of [...this.eventWaiters]) {
      if (waiter.predicate(parsed.data)) {
        clearTimeout(waiter.timer);
        this.eventWaiters.delete(waiter);
        waiter.resolve(parsed.data);
      }
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export type { Actor, DomainEvent, Reply };
export { sign };
