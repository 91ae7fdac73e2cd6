import pg from 'pg';
import type { Producer } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { OUTBOX_CHANNEL } from '../pipeline/execute-command.js';

// Advisory-lock key shared by every worker instance: only the holder publishes, so events leave in outbox
// id order, which keeps per-key order across instances. The lock lives on the relay's own connection; if
// that connection or its process dies, Postgres releases the lock and another instance takes over.
const RELAY_LOCK_KEY = 7_302_114_001;

export interface OutboxRelayOptions {
  databaseUrl: string;
  producer: Producer;
  logger: Logger;
  metrics: Metrics;
  pollIntervalMs?: number;
  batchSize?: number;
  retainPublishedMs?: number;
}

interface OutboxRow {
  id: string;
  topic: string;
  message_key: string | null;
  payload: unknown;
  headers: Record<string, string>;
}

export class OutboxRelay {
  private client: pg.Client | undefined;
  private leader = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private pending = false;
  private loop: Promise<void> | undefined;
  private lastPrune = 0;
  private failingSince: number | undefined;

  constructor(private readonly options: OutboxRelayOptions) {}

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

  /** Publishes unpublished rows in id order, a batch at a time, marking each batch once Kafka has it. */
  private async drain(): Promise<void> {
    const client = this.client!;
    const batchSize = this.options.batchSize ?? 500;
    this.pending = false;
    for (;;) {
      const { rows } = await client.query<OutboxRow>(
        'select id, topic, message_key, payload, headers from outbox where published_at is null order by id limit $1',
        [batchSize],
      );
      if (rows.length === 0) return;
      const byTopic = new Map<string, OutboxRow[]>();
      for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
      await this.options.producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, topicRows]) => ({
          topic,
          messages: topicRows.map((r) => ({ key: r.message_key, value: JSON.stringify(r.payload), headers: r.headers })),
        })),
      });
      await client.query('update outbox set published_at = now() where id = any($1::bigint[])', [rows.map((r) => r.id)]);
      this.options.metrics.eventsPublished.inc(rows.length);
      if (rows.length < batchSize) return;
    }
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
