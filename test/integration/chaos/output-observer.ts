import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';

// Reads what the worker published, from the start of the run's replies and events topics: every reply by
// command id, and the events of each message key in topic order, deduplicated by event id (delivery is at
// least once; a consumer keeps the first copy).

export interface ObservedEvent {
  id: string;
  type: string;
  commandId: string | null;
  /** Milliseconds since epoch when the observer read it. */
  seenAt: number;
}

export interface ObservedReply {
  statuses: number[];
  firstSeenAt: number;
}

export class OutputObserver {
  readonly replies = new Map<string, ObservedReply>();
  /** Per message key, the first copy of each event, in the order the topic holds them. */
  readonly eventsByKey = new Map<string, ObservedEvent[]>();
  /** Event ids per command id (more than one metric.created for one command means it was applied twice). */
  readonly eventIdsByCommand = new Map<string, Set<string>>();
  private readonly eventIds = new Set<string>();
  /** Planned commands (see `isPlanned`) with at least one reply / at least one event so far. */
  answeredPlanned = 0;
  withEventPlanned = 0;
  duplicateEventDeliveries = 0;
  duplicateReplies = 0;
  unreadable = 0;
  private readonly consumer: Consumer;
  readonly groupId: string;

  constructor(
    kafka: Kafka,
    private readonly topics: { replies: string; events: string },
    groupPrefix: string,
    private readonly isPlanned: (commandId: string) => boolean,
  ) {
    this.groupId = `${groupPrefix}.observer-${randomUUID().slice(0, 6)}`;
    this.consumer = kafka.consumer({ groupId: this.groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000 });
  }

  get distinctEvents(): number {
    return this.eventIds.size;
  }

  /** Subscribes from the beginning and resolves once the observer has joined its group. */
  async start(): Promise<void> {
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [this.topics.replies, this.topics.events], fromBeginning: true });
    let joined!: () => void;
    const groupJoined = new Promise<void>((resolve) => (joined = resolve));
    const off = this.consumer.on(this.consumer.events.GROUP_JOIN, () => joined());
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        const text = message.value?.toString('utf8');
        let parsed: Record<string, unknown> | undefined;
        try {
          parsed = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        } catch {
          parsed = undefined;
        }
        if (!parsed) {
          this.unreadable++;
          return;
        }
        if (topic === this.topics.replies) this.onReply(parsed);
        else this.onEvent(message.key?.toString('utf8') ?? '', parsed);
      },
    });
    await groupJoined;
    off();
  }

  async stop(): Promise<void> {
    await this.consumer.disconnect();
  }

  private onReply(reply: Record<string, unknown>): void {
    const commandId = String(reply.commandId);
    const status = Number(reply.status);
    const seen = this.replies.get(commandId);
    if (seen) {
      seen.statuses.push(status);
      this.duplicateReplies++;
    } else {
      this.replies.set(commandId, { statuses: [status], firstSeenAt: Date.now() });
      if (this.isPlanned(commandId)) this.answeredPlanned++;
    }
  }

  private onEvent(key: string, event: Record<string, unknown>): void {
    const id = String(event.id);
    if (this.eventIds.has(id)) {
      this.duplicateEventDeliveries++;
      return;
    }
    this.eventIds.add(id);
    const commandId = typeof event.commandId === 'string' ? event.commandId : null;
    const observed: ObservedEvent = { id, type: String(event.type), commandId, seenAt: Date.now() };
    const list = this.eventsByKey.get(key);
    if (list) list.push(observed);
    else this.eventsByKey.set(key, [observed]);
    if (commandId) {
      const ids = this.eventIdsByCommand.get(commandId);
      if (ids) ids.add(id);
      else {
        this.eventIdsByCommand.set(commandId, new Set([id]));
        if (this.isPlanned(commandId)) this.withEventPlanned++;
      }
    }
  }
}
