import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka } from 'kafkajs';
import type { Config } from '../../config.js';
import { CliError, EXIT, isoTime, preview, usageError } from './context.js';

// The DLQ topics as expctl reads them (CONTRACT.md: original key, value and headers, plus x-dlq-reason and
// x-original-topic/partition/offset): which DLQ holds what, reading offset ranges with a short-lived consumer of
// a group of its own that seeks to the wanted offsets and stops once it has reached the high watermark, and
// what a replay may re-publish.

/** `--topic`: the commands DLQ (DLQ_TOPIC) or the tracking DLQ (TRACKING_DLQ_TOPIC). */
export const DLQ_SOURCES = ['commands', 'tracking'] as const;
export type DlqSource = (typeof DLQ_SOURCES)[number];

export interface DlqTopics {
  source: DlqSource;
  /** The DLQ topic and the variable naming it. */
  dlqTopic: string;
  dlqVariable: 'DLQ_TOPIC' | 'TRACKING_DLQ_TOPIC';
  /** The only topic its messages came from, and may be replayed to. */
  sourceTopic: string;
}

export function dlqTopics(config: Pick<Config, 'DLQ_TOPIC' | 'TRACKING_DLQ_TOPIC' | 'COMMANDS_TOPIC' | 'TRACKING_TOPIC'>, source: DlqSource): DlqTopics {
  return source === 'commands'
    ? { source, dlqTopic: config.DLQ_TOPIC, dlqVariable: 'DLQ_TOPIC', sourceTopic: config.COMMANDS_TOPIC }
    : { source, dlqTopic: config.TRACKING_DLQ_TOPIC, dlqVariable: 'TRACKING_DLQ_TOPIC', sourceTopic: config.TRACKING_TOPIC };
}

export interface DlqMessage {
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

export interface OffsetRange {
  partition: number;
  /** First offset wanted (inclusive). */
  from: bigint;
  /** End (exclusive). */
  to: bigint;
}

export interface Watermarks {
  partition: number;
  low: bigint;
  high: bigint;
}

const DLQ_HEADER = /^x-(dlq|original)-/i;
export const DEFAULT_READ_TIMEOUT_MS = 20_000;

/** `P:O` (or a bare `O`, meaning partition 0) → a DLQ position. */
export function parseDlqOffset(text: string): { partition: number; offset: bigint } {
  const match = /^(?:(\d+):)?(\d+)$/.exec(text.trim());
  if (!match) throw usageError(`invalid --offset "${text}": expected <partition>:<offset>, e.g. 0:42`);
  return { partition: Number(match[1] ?? 0), offset: BigInt(match[2]!) };
}

export function headerText(headers: IHeaders, name: string): string | undefined {
  const raw = headers[name];
  const first = Array.isArray(raw) ? raw[0] : raw;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

/** The headers a replayed message carries: the original ones, without what the DLQ added. */
export function replayHeaders(headers: IHeaders): IHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => !DLQ_HEADER.test(name) && value !== undefined));
}

export function describeDlqMessage(m: DlqMessage, replayedAt?: string | null) {
  const originalTopic = headerText(m.headers, 'x-original-topic') ?? null;
  const originalPartition = headerText(m.headers, 'x-original-partition') ?? null;
  const originalOffset = headerText(m.headers, 'x-original-offset') ?? null;
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: isoTime(m.timestamp) || null,
    reason: headerText(m.headers, 'x-dlq-reason') ?? null,
    originalTopic,
    originalPartition: originalPartition === null ? null : Number(originalPartition),
    originalOffset,
    key: m.key?.toString('utf8') ?? null,
    size: m.value?.length ?? 0,
    preview: preview(m.value, 200),
    valueBase64: m.value?.toString('base64') ?? null,
    replayedAt: replayedAt === undefined ? undefined : replayedAt,
  };
}

/** The partitions of the DLQ topic with their low and high watermarks. */
export async function watermarks(kafka: Kafka, topics: DlqTopics): Promise<Watermarks[]> {
  const topic = topics.dlqTopic;
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw new CliError(EXIT.failure, `cannot reach Kafka: ${(error as Error).message}`);
  }
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) throw new CliError(EXIT.failure, `the DLQ topic ${topic} does not exist (check ${topics.dlqVariable}; the worker creates it at start-up)`);
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) })).sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Reads the given offset ranges of `topic`; `complete` is false when the time ran out first. */
export async function readRanges(
  kafka: Kafka,
  topic: string,
  ranges: OffsetRange[],
  allPartitions: number[],
  timeoutMs = DEFAULT_READ_TIMEOUT_MS,
): Promise<{ messages: DlqMessage[]; complete: boolean; missing: OffsetRange[] }> {
  const pending = new Map(ranges.filter((r) => r.from < r.to).map((r) => [r.partition, { ...r }]));
  const messages: DlqMessage[] = [];
  if (!pending.size) return { messages, complete: true, missing: [] };

  const groupId = `expctl-dlq-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, allowAutoTopicCreation: false, retry: { retries: 3 } });
  let finish!: () => void;
  let fail!: (error: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  let timer: NodeJS.Timeout | undefined;
  let complete = false;
  try {
    await consumer.connect();
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) fail(event.payload.error);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        const range = pending.get(batch.partition);
        if (!range) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset < range.from || offset >= range.to) continue;
          messages.push({
            partition: batch.partition,
            offset: message.offset,
            timestamp: message.timestamp,
            key: message.key ?? null,
            value: message.value ?? null,
            headers: message.headers ?? {},
          });
        }
        const next = BigInt(batch.lastOffset()) + 1n;
        if (next > range.from) range.from = next;
        if (range.from >= range.to) {
          pending.delete(batch.partition);
          consumer.pause([{ topic, partitions: [batch.partition] }]);
          if (!pending.size) finish();
        }
      },
    });
    for (const r of pending.values()) consumer.seek({ topic, partition: r.partition, offset: r.from.toString() });
    const idle = allPartitions.filter((p) => !pending.has(p));
    if (idle.length) consumer.pause([{ topic, partitions: idle }]);
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
    complete = (await Promise.race([finished.then(() => 'done' as const), timedOut])) === 'done';
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => {});
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => {})
      .finally(() => admin.disconnect().catch(() => {}));
  }
  messages.sort((a, b) => a.partition - b.partition || (BigInt(a.offset) < BigInt(b.offset) ? -1 : 1));
  return { messages, complete, missing: [...pending.values()] };
}

export function incompleteError(topic: string, missing: OffsetRange[], timeoutMs: number): CliError {
  const where = missing.map((r) => `partition ${r.partition} stopped at offset ${r.from} of ${r.to}`).join(', ');
  return new CliError(EXIT.timeout, `could not read the DLQ topic ${topic} to its end within ${timeoutMs} ms (${where}); try --read-timeout`);
}

/**
 * Why `message` may not be replayed to `sourceTopic`, or null when it may: a DLQ message goes back only to the
 * topic it came from (its single x-original-topic header), and only with the value it was rejected with.
 * Anyone who can write to a DLQ topic can forge headers: this keeps a replay from writing elsewhere.
 */
export function replayRefusal(message: Pick<DlqMessage, 'headers'>, sourceTopic: string): string | null {
  const raw = message.headers['x-original-topic'];
  if (raw === undefined) return 'it has no x-original-topic header';
  if (Array.isArray(raw) && raw.length !== 1) return 'it has more than one x-original-topic header';
  const original = headerText(message.headers, 'x-original-topic');
  if (original !== sourceTopic) return `its x-original-topic is ${JSON.stringify(original)}, not ${sourceTopic}`;
  return null;
}
