import { randomUUID } from 'node:crypto';
import { Kafka, type Consumer, type Producer } from 'kafkajs';
import { commands, type CommandPayload, type CommandReplyBody, type CommandSuccessStatus, type CommandType, type ErrorStatus } from './contracts/commands.js';
import { eventSchema, HEADERS, replySchema, type Actor, type DomainEvent, type Reply } from './contracts/envelope.js';
import type { ErrorBody } from './contracts/errors.js';
import type { EventType, TypedEvent } from './contracts/events.js';
import { sign } from './contracts/signing.js';
import { ensureTopics } from './topics.js';

// A client for services (and tests) that drive the worker: it signs and sends command envelopes, resolves each
// send with the reply matched by command id, and can follow the events topic.

export interface ClientOptions {
  /** A kafkajs instance of yours; or give `brokers` and the client makes one. */
  kafka?: Kafka;
  brokers?: string[];
  clientId?: string;
  /** Signing key: an entry `keyId:secret:scope` of the worker's COMMAND_KEYS. */
  keyId: string;
  secret: string;
  commandsTopic?: string;
  eventsTopic?: string;
  /** The topic this client reads replies from; it is sent as `replyTo`. Defaults to a topic of its own. */
  replyTopic?: string;
  defaultActor?: Actor;
  /** Environment of environment-scoped commands sent with the typed `send` when its options name none. */
  environment?: string;
  /** Follow the events topic too (needed for waitForEvent). */
  subscribeToEvents?: boolean;
}

/** A command of any type and payload, as `send(input)` and `envelope(input)` take it (no type checks). */
export interface CommandInput {
  type: string;
  environment?: string;
  /** Kafka message key. Defaults to `environment`; platform commands are keyed by organisation id. */
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

/** Options of the typed `send(type, payload, options)`. */
export type TypedSendOptions = Omit<CommandInput, 'type' | 'payload'> & SendOptions;

type ReplyCommon<T extends CommandType> = Omit<Reply, 'type' | 'status' | 'body'> & { type: T };
export type SuccessReply<T extends CommandType> = ReplyCommon<T> & { status: CommandSuccessStatus<T>; body: CommandReplyBody<T> };
export type ErrorReply<T extends CommandType> = ReplyCommon<T> & { status: ErrorStatus; body: ErrorBody };
/** The reply to a command of type T: its success status and body, or an error status and body. */
export type CommandReply<T extends CommandType> = SuccessReply<T> | ErrorReply<T>;

/** True for a 2xx reply; narrows the body to the command's reply body. */
export function isSuccess<T extends CommandType>(reply: CommandReply<T>): reply is SuccessReply<T> {
  return reply.status >= 200 && reply.status < 300;
}

interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class ExperimentationClient {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly consumer: Consumer;
  private readonly pendingReplies = new Map<string, Waiter<Reply>[]>();
  private readonly earlyReplies = new Map<string, Reply[]>();
  private readonly eventWaiters = new Set<{ predicate: (e: DomainEvent) => boolean } & Waiter<DomainEvent>>();
  /** Every event seen since the client connected (when subscribed to events). */
  readonly events: DomainEvent[] = [];
  readonly replyTopic: string;
  private readonly commandsTopic: string;
  private readonly eventsTopic: string;

  constructor(private readonly options: ClientOptions) {
    if (!options.kafka && !options.brokers?.length) throw new Error('ExperimentationClient needs `kafka` or `brokers`');
    this.kafka = options.kafka ?? new Kafka({ clientId: options.clientId ?? 'experimentation-client', brokers: options.brokers! });
    this.commandsTopic = options.commandsTopic ?? 'experimentation.commands';
    this.eventsTopic = options.eventsTopic ?? 'experimentation.events';
    this.replyTopic = options.replyTopic ?? `experimentation.client.${randomUUID().slice(0, 8)}.replies`;
    this.producer = this.kafka.producer({ allowAutoTopicCreation: true });
    this.consumer = this.kafka.consumer({ groupId: `experimentation-client-${randomUUID()}`, maxWaitTimeInMs: 50 });
  }

  /** Creates the reply topic when missing, connects, and resolves once this client reads its topics. */
  async connect(): Promise<void> {
    const topics = [this.replyTopic, ...(this.options.subscribeToEvents ? [this.eventsTopic] : [])];
    // The worker never creates a reply topic, so the client does.
    const ends = await ensureTopics(this.kafka, topics);
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
    // From where the topics ended before this client joined: its new group has no offsets, and kafkajs would look
    // the end up at its first fetch, after joining, skipping a reply sent in between (3 of 10 replies sent right
    // after connect() on a fresh topic; an expctl send of the quick start timed out this way).
    for (const { topic, partition, offset } of ends) this.consumer.seek({ topic, partition, offset });
    await groupJoined;
    off();
  }

  async disconnect(): Promise<void> {
    for (const waiters of this.pendingReplies.values()) for (const w of waiters) clearTimeout(w.timer);
    for (const w of this.eventWaiters) clearTimeout(w.timer);
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }

  /**
   * Signs and sends a command, and resolves with its reply. Typed: `send('metric.create', payload, {environment})`
   * checks the payload against the command's contract and types the reply body. Untyped: `send({type, payload, …})`.
   */
  send<T extends CommandType>(type: T, payload: CommandPayload<T>, options?: TypedSendOptions): Promise<CommandReply<T>>;
  send(input: CommandInput, options?: SendOptions): Promise<Reply>;
  async send(first: string | CommandInput, second?: unknown, third?: TypedSendOptions): Promise<Reply> {
    const [input, options] = typeof first === 'string' ? [this.typedInput(first as CommandType, second, third), third] : [first, second as SendOptions | undefined];
    const envelope = this.envelope(input);
    const reply = this.waitForReply(envelope.id, options?.timeout);
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
    if (keyId !== null) headers[HEADERS.keyId] = keyId;
    if (signature !== null) headers[HEADERS.signature] = signature;
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

  /**
   * Resolves with the first event (already seen, or arriving within `timeout`) that matches: of a type
   * (`waitForEvent('metric.created', (e) => e.data.id === 7)`, typed `data`) or of any type (a predicate alone).
   */
  waitForEvent<T extends EventType>(type: T, predicate?: (event: TypedEvent<T>) => boolean, options?: { timeout?: number }): Promise<TypedEvent<T>>;
  waitForEvent(predicate: (event: DomainEvent) => boolean, options?: { timeout?: number }): Promise<DomainEvent>;
  waitForEvent(first: string | ((event: DomainEvent) => boolean), second?: unknown, third?: { timeout?: number }): Promise<DomainEvent> {
    const typed = typeof first === 'string';
    const predicate: (event: DomainEvent) => boolean = typed
      ? (event) => event.type === first && (!second || (second as (event: DomainEvent) => boolean)(event))
      : first;
    const options = (typed ? third : (second as { timeout?: number } | undefined)) ?? {};
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

  // Platform commands take no environment, whatever the client's default.
  private typedInput(type: CommandType, payload: unknown, options: TypedSendOptions = {}): CommandInput {
    const { timeout: _timeout, ...rest } = options;
    const environment = rest.environment ?? (commands[type]?.scope === 'environment' ? this.options.environment : undefined);
    return { ...rest, type, payload, ...(environment !== undefined ? { environment } : {}) };
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
