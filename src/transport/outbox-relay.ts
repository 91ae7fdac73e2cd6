import pg from 'pg';
import type { Message, Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { OUTBOX_CHANNEL } from '../pipeline/execute-command.js';
import { MAX_REQUEST_BYTES, byteCappedChunks, classifySendError, compressionFor, messageBytes } from './kafka-limits.js';
import { RenewableProducer } from './renewable-producer.js';
import { sendTraced, untracedPublishing, type PublishTracing } from './publish-tracing.js';

// Advisory-lock key shared by every worker instance: only the holder publishes, so events leave in outbox
// id order, which keeps per-key order across instances. The lock lives on the relay's own connection; if
// that connection or its process dies, Postgres releases the lock and another instance takes over.
const RELAY_LOCK_KEY = 7_302_114_001;

export interface OutboxRelayOptions {
  databaseUrl: string;
  /** Makes the relay's producer (idempotent, one request in flight); the relay connects it, and makes a new one after a failed send. */
  createProducer: () => Producer;
  logger: Logger;
  metrics: Metrics;
  /** Events go out in the trace of the command that emitted them (their row's `traceparent` header). */
  tracing?: PublishTracing;
  pollIntervalMs?: number;
  batchSize?: number;
  maxRequestBytes?: number;
  retainPublishedMs?: number;
}

interface OutboxRow {
  id: string;
  topic: string;
  message_key: string | null;
  /** The event as JSON text: read as text, it is sent as it is, not parsed and serialised again. */
  payload: string;
  headers: Record<string, string>;
}

interface Outgoing {
  id: string;
  topic: string;
  message: Message;
  bytes: number;
}

const outgoing = (row: OutboxRow): Outgoing => {
  const message = { key: row.message_key, value: row.payload, headers: row.headers };
  return { id: row.id, topic: row.topic, message, bytes: messageBytes(message) };
};

export class OutboxRelay {
  private client: pg.Client | undefined;
  private leader = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private pending = false;
  private loop: Promise<void> | undefined;
  private lastPrune = 0;
  private failingSince: number | undefined;
  private readonly producer: RenewableProducer;

  constructor(private readonly options: OutboxRelayOptions) {
    this.producer = new RenewableProducer(options.createProducer, { logger: options.logger, name: 'outbox relay' });
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** False once its loop has been failing for 30 s on end (no database, or Kafka refusing the events). */
  get healthy(): boolean {
    return this.failingSince === undefined || Date.now() - this.failingSince < 30_000;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger } = this.options;
    while (!this.stopped) {
      try {
        await this.connect();
        if (!this.leader) {
          this.failingSince = undefined;
          await this.sleep(this.options.pollIntervalMs ?? 5000);
          continue;
        }
        await this.drain();
        await this.prune();
        this.failingSince = undefined;
        if (!this.pending) await this.sleep(this.options.pollIntervalMs ?? 5000);
      } catch (error) {
        this.failingSince ??= Date.now();
        logger.warn({ err: error }, 'outbox relay failed; reconnecting');
        await this.disconnect();
        await this.sleep(1000);
      }
    }
    await this.disconnect();
    await this.producer.disconnect();
  }

  private async connect(): Promise<void> {
    if (!this.client) {
      const client = new pg.Client({ connectionString: this.options.databaseUrl, application_name: 'experimentation-worker:outbox-relay' });
      client.on('error', (err) => this.options.logger.warn({ err }, 'outbox relay connection error'));
      client.on('notification', () => {
        this.pending = true;
        this.wake?.();
      });
      await client.connect();
      this.client = client;
      this.leader = false;
    }
    if (!this.leader) {
      const { rows } = await this.client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [RELAY_LOCK_KEY]);
      if (rows[0]?.locked) {
        await this.client.query(`listen ${OUTBOX_CHANNEL}`);
        this.leader = true;
        this.pending = true;
        this.options.logger.info('outbox relay is the active publisher');
      }
    }
  }

  /**
   * Publishes unpublished rows in id order, a batch at a time, in requests capped in bytes, marking each request's
   * rows once Kafka has them. Parked rows are skipped: they no longer hold back the rows behind them.
   */
  private async drain(): Promise<void> {
    const client = this.client!;
    const batchSize = this.options.batchSize ?? 500;
    this.pending = false;
    for (;;) {
      const { rows } = await client.query<OutboxRow>(
        'select id, topic, message_key, payload::text as payload, headers from outbox where published_at is null and parked_at is null order by id limit $1',
        [batchSize],
      );
      if (rows.length === 0) return;
      for (const chunk of byteCappedChunks(rows.map(outgoing), (m) => m.bytes, this.options.maxRequestBytes ?? MAX_REQUEST_BYTES)) {
        await this.publish(chunk);
      }
      if (rows.length < batchSize) return;
    }
  }

  /**
   * One request; when the broker refuses it for good, the same messages one at a time (kafkajs names no message,
   * only the first partition's error), parking each one it still refuses. Other failures are thrown: the run loop
   * tries again, as long as it takes, so nothing is skipped while Kafka is away.
   */
  private async publish(chunk: Outgoing[]): Promise<void> {
    try {
      await this.send(chunk);
      await this.markPublished(chunk);
      return;
    } catch (error) {
      const { failure, detail } = classifySendError(error);
      if (failure !== 'refused' || chunk.length === 1) {
        if (failure === 'refused') return this.park(chunk[0]!, detail);
        throw error;
      }
      this.options.logger.warn({ messages: chunk.length, error: detail }, 'the broker refused a batch of events; sending them one at a time');
    }
    for (const message of chunk) {
      try {
        await this.send([message]);
        await this.markPublished([message]);
      } catch (error) {
        const { failure, detail } = classifySendError(error);
        if (failure !== 'refused') throw error;
        await this.park(message, detail);
      }
    }
  }

  private async send(messages: Outgoing[]): Promise<void> {
    await sendTraced(this.options.tracing ?? untracedPublishing, messages, async (sent) => {
      const byTopic = new Map<string, Message[]>();
      sent.forEach((message, i) => byTopic.set(messages[i]!.topic, [...(byTopic.get(messages[i]!.topic) ?? []), message]));
      await this.producer.sendBatch(
        {
          acks: -1,
          compression: compressionFor(messages.reduce((n, m) => n + m.bytes, 0)),
          topicMessages: [...byTopic].map(([topic, topicMessages]) => ({ topic, messages: topicMessages })),
        },
        // Whatever failed, some partitions may have taken their records: a fresh producer id keeps sequences in step.
        { renewOn: () => true },
      );
    });
  }

  private async markPublished(messages: Outgoing[]): Promise<void> {
    await this.client!.query('update outbox set published_at = now() where id = any($1::bigint[])', [messages.map((m) => m.id)]);
    this.options.metrics.eventsPublished.inc(messages.length);
  }

  private async park(message: Outgoing, error: string): Promise<void> {
    await this.client!.query('update outbox set parked_at = now(), last_error = $2 where id = $1', [message.id, error]);
    this.options.metrics.parkedMessages.inc({ kind: 'event' });
    this.options.logger.error({ outboxId: message.id, topic: message.topic, bytes: message.bytes, error }, 'the broker refused an event for good; parked (expctl parked list)');
  }

  private async prune(): Promise<void> {
    if (Date.now() - this.lastPrune < 60_000) return;
    this.lastPrune = Date.now();
    const retainMs = this.options.retainPublishedMs ?? 3600_000;
    await this.client!.query(`delete from outbox where published_at < now() - ($1::bigint * interval '1 millisecond')`, [retainMs]);
  }

  private async disconnect(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.leader = false;
    if (client) await client.end().catch(() => {});
  }

  private sleep(ms: number): Promise<void> {
    // stop() wakes the current sleep only: one that would start after it (stop() came during a drain) must not
    // wait out the poll interval, or a graceful shutdown misses its deadline (seen in the SIGTERM test).
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
