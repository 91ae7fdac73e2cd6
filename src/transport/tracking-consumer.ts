import type { Consumer, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { isRejection, parseTrackingMessage, type TrackingRejection } from '../contracts/tracking.js';
import { FUTURE_TOLERANCE_MS, PartitionManager, dayStart, oldestAccepted, type TrackingRow } from '../results/tracking-store.js';
import { insertTrackingBatch } from '../results/tracking-ingest.js';
import { BatchStopped, retryInPlace } from '../pipeline/retry-in-place.js';
import { deadLetterHeaders, sendDeadLetters } from './dead-letters.js';
import type { PublishTracing } from './publish-tracing.js';
import { stringHeaders } from './kafka.js';
import type { DeadLetterCopy } from '../models/parked.js';
import { waitForGroupCoordinator } from './kafka.js';

/** Messages written per transaction; a fetched batch larger than this is written in several. */
export const TRACKING_CHUNK = 5000;

export class TrackingShutdown extends Error {}

export interface TrackingConsumerOptions {
  kafka: Kafka;
  knex: Knex;
  producer: Producer;
  config: Pick<Config, 'TRACKING_TOPIC' | 'TRACKING_CONSUMER_GROUP' | 'TRACKING_DLQ_TOPIC' | 'TRACKING_RETENTION_DAYS' | 'TOPIC_PARTITIONS'> & { KAFKA_SESSION_TIMEOUT_MS?: number };
  logger: Logger;
  metrics: Metrics;
  isStopping: () => boolean;
  partitions?: PartitionManager;
  now?: () => Date;
  /** DLQ copies keep the original headers, `traceparent` included (dead-letters.ts). */
  tracing?: PublishTracing;
}

interface Rejected {
  message: KafkaMessage;
  rejection: TrackingRejection;
}

/**
 * Environment key → id, cached. Known keys are kept for 5 minutes, unknown ones for 5 seconds (an environment
 * upserted just before its first events is picked up quickly). One query per batch for the keys not cached.
 */
export class EnvironmentCache {
  private readonly entries = new Map<string, { id: number | null; until: number }>();
  constructor(
    private readonly knex: Knex,
    private readonly ttlMs = 300_000,
    private readonly negativeTtlMs = 5000,
  ) {}

  async resolve(keys: Iterable<string>, now = Date.now()): Promise<Map<string, number | null>> {
    const out = new Map<string, number | null>();
    const missing: string[] = [];
    for (const key of new Set(keys)) {
      const hit = this.entries.get(key);
      if (hit && hit.until > now) out.set(key, hit.id);
      else missing.push(key);
    }
    if (missing.length) {
      const rows = await this.knex('environments').select('id', 'key').whereIn('key', missing);
      const found = new Map<string, number>(rows.map((r: { id: number; key: string }) => [r.key, Number(r.id)]));
      if (this.entries.size > 100_000) this.entries.clear();
      for (const key of missing) {
        const id = found.get(key) ?? null;
        this.entries.set(key, { id, until: now + (id === null ? this.negativeTtlMs : this.ttlMs) });
        out.set(key, id);
      }
    }
    return out;
  }
}

/**
 * Consumes the tracking topic (CONTRACT.md "Tracking event") in its own consumer group and stores the events in
 * tracking_events. Per fetched batch of a partition, in chunks of TRACKING_CHUNK messages: validate each message,
 * resolve environment keys, write the valid ones in one multi-row insert together with the partition's position
 * (tracking-store.ts), send the invalid ones to TRACKING_DLQ_TOPIC with `x-dlq-reason` (dead-letters.ts), then
 * resolve and commit the offsets. A database or broker failure is retried in place with capped backoff, without
 * committing, so the partition never skips events; only at shutdown (or when the partition was taken away) does
 * it give up, leaving the offsets uncommitted for the next owner.
 */
export async function startTrackingConsumer(options: TrackingConsumerOptions): Promise<Consumer> {
  const { kafka, config, logger, isStopping } = options;
  const ingester = new TrackingIngester(options);
  const consumer = kafka.consumer({
    groupId: config.TRACKING_CONSUMER_GROUP,
    sessionTimeout: config.KAFKA_SESSION_TIMEOUT_MS ?? 30_000,
    heartbeatInterval: 3000,
    maxWaitTimeInMs: 200,
    maxBytesPerPartition: 4 * 1024 * 1024,
    maxBytes: 16 * 1024 * 1024,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.TRACKING_TOPIC, fromBeginning: true });
  consumer.on(consumer.events.CRASH, (e) => {
    if (!isStopping()) logger.error({ err: e.payload.error, restart: e.payload.restart }, 'tracking consumer crashed');
  });
  // Joining before the coordinator has loaded the group crashes the consumer (it restarts, noisily).
  await waitForGroupCoordinator(kafka, config.TRACKING_CONSUMER_GROUP, 30_000, logger);
  await consumer.run({
    autoCommit: true,
    autoCommitThreshold: 1,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: config.TOPIC_PARTITIONS,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      const live = () => isRunning() && !isStale();
      if (batch.messages.length === 0) {
        resolveOffset(batch.lastOffset());
        await commitOffsetsIfNecessary();
        return;
      }
      for (let start = 0; start < batch.messages.length; start += TRACKING_CHUNK) {
        if (!live()) return;
        const chunk = batch.messages.slice(start, start + TRACKING_CHUNK);
        const done = await ingester.ingest(batch.topic, batch.partition, chunk, { heartbeat, live });
        if (!done) return;
        resolveOffset(chunk[chunk.length - 1]!.offset);
        await commitOffsetsIfNecessary();
        await heartbeat().catch(() => {});
      }
    },
  });
  return consumer;
}

/** The consumer's work on one chunk of messages of one topic partition; separate for tests and the benchmark. */
export class TrackingIngester {
  private readonly environments: EnvironmentCache;
  private readonly partitions: PartitionManager;
  private readonly now: () => Date;

  constructor(private readonly options: TrackingConsumerOptions) {
    this.environments = new EnvironmentCache(options.knex);
    this.partitions = options.partitions ?? new PartitionManager(options.knex);
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Stores the chunk and sends its rejects to the tracking DLQ; true once that is durable. False when the
   * partition was taken away (or the consumer stopped) before that: the caller must not resolve the offsets.
   * Throws only when stopping, which leaves the offsets uncommitted.
   */
  async ingest(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    control: { heartbeat: () => Promise<void>; live: () => boolean },
  ): Promise<boolean> {
    const { logger, metrics } = this.options;
    const lastOffset = BigInt(messages[messages.length - 1]!.offset);
    let stored = 0;
    let rejected: Rejected[] = [];
    const ok = await this.persistently(topic, partition, control, 'store tracking events', async () => {
      const result = await this.store(topic, partition, messages, lastOffset);
      stored = result.stored;
      rejected = result.rejected;
    });
    if (!ok) return false;
    if (rejected.length) {
      const sent = await this.persistently(topic, partition, control, 'send rejected tracking events to the tracking DLQ', () =>
        this.sendToDlq(topic, partition, rejected),
      );
      if (!sent) return false;
      for (const r of rejected) {
        metrics.trackingRejected.inc({ reason: r.rejection.label });
        metrics.dlq.inc({ source: 'tracking', reason: r.rejection.label });
      }
      logger.info({ topic, partition, count: rejected.length, first: rejected[0]!.rejection.reason }, 'tracking events rejected to the tracking DLQ');
    }
    metrics.trackingAccepted.inc(stored);
    return true;
  }

  /** Validates, resolves environments, ensures partitions and inserts; answers what was stored and rejected. */
  private async store(topic: string, partition: number, messages: KafkaMessage[], lastOffset: bigint): Promise<{ stored: number; rejected: Rejected[] }> {
    const { config, knex } = this.options;
    const now = this.now();
    const oldest = oldestAccepted(config.TRACKING_RETENTION_DAYS, now);
    const newest = now.getTime() + FUTURE_TOLERANCE_MS;
    const rejected: Rejected[] = [];
    const parsed: { message: KafkaMessage; event: Exclude<ReturnType<typeof parseTrackingMessage>, TrackingRejection>; at: Date }[] = [];
    for (const message of messages) {
      const result = parseTrackingMessage(message.value);
      if (isRejection(result)) {
        rejected.push({ message, rejection: result });
        continue;
      }
      const at = new Date(result.timestamp);
      if (at.getTime() < oldest) {
        rejected.push({ message, rejection: { label: 'out_of_retention', reason: `timestamp older than the ${config.TRACKING_RETENTION_DAYS}-day retention` } });
      } else if (at.getTime() > newest) {
        rejected.push({ message, rejection: { label: 'in_the_future', reason: 'timestamp more than a day in the future' } });
      } else {
        parsed.push({ message, event: result, at });
      }
    }
    const ids = await this.environments.resolve(parsed.map((p) => p.event.environment));
    const rows: TrackingRow[] = [];
    const offsets: bigint[] = [];
    const days = new Set<number>();
    for (const { message, event, at } of parsed) {
      const environmentId = ids.get(event.environment) ?? null;
      if (environmentId === null) {
        rejected.push({ message, rejection: { label: 'unknown_environment', reason: `unknown environment "${event.environment}"` } });
        continue;
      }
      rows.push({
        environmentId,
        event: event.event,
        identifier: event.identifier,
        feature: event.feature ?? null,
        valueText: typeof event.value === 'string' ? event.value : null,
        valueNum: typeof event.value === 'number' ? event.value : null,
        occurredAt: at,
      });
      offsets.push(BigInt(message.offset));
      days.add(dayStart(at));
    }
    await this.partitions.ensure(days);
    const stored = await insertTrackingBatch(knex, { group: config.TRACKING_CONSUMER_GROUP, topic, partition }, rows, offsets, lastOffset, ({ experimentId, error }) =>
      this.options.logger.error({ experimentId, err: error }, 'results state could not be kept and was dropped; the next computation builds it again'),
    );
    // Rejects go back in offset order, as they came.
    rejected.sort((a, b) => (BigInt(a.message.offset) < BigInt(b.message.offset) ? -1 : 1));
    return { stored, rejected };
  }

  private async sendToDlq(topic: string, partition: number, rejected: Rejected[]): Promise<void> {
    const { config, producer, knex, logger, metrics } = this.options;
    const copies: DeadLetterCopy[] = rejected.map(({ message, rejection }) => ({
      topic: config.TRACKING_DLQ_TOPIC,
      sourceTopic: topic,
      partition,
      offset: message.offset,
      key: message.key,
      value: message.value,
      headers: deadLetterHeaders(stringHeaders(message.headers), {
        'x-dlq-reason': rejection.reason,
        'x-dlq-source': 'tracking',
        'x-original-topic': topic,
        'x-original-partition': String(partition),
        'x-original-offset': message.offset,
      }),
      reason: rejection.reason,
    }));
    await sendDeadLetters({ producer, knex, logger, metrics, tracing: this.options.tracing }, copies);
  }

  /** Runs `work` until it succeeds (see retryInPlace); false if the partition is lost meanwhile. */
  private async persistently(
    topic: string,
    partition: number,
    control: { heartbeat: () => Promise<void>; live: () => boolean },
    what: string,
    work: () => Promise<void>,
  ): Promise<boolean> {
    try {
      await retryInPlace(what, work, {
        heartbeat: control.heartbeat,
        isStopping: this.options.isStopping,
        isLive: control.live,
        logger: this.options.logger.child({ topic, partition }),
        // A partition may have been dropped by retention meanwhile.
        beforeRetry: () => {
          this.options.metrics.trackingRetries.inc();
          this.partitions.reset();
        },
      });
      return true;
    } catch (error) {
      if (!(error instanceof BatchStopped)) throw error;
      if (this.options.isStopping()) throw new TrackingShutdown(`left ${topic}/${partition} uncommitted at shutdown`);
      return false;
    }
  }
}
