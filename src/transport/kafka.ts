import { Kafka, logLevel, type IHeaders, type Admin, type ITopicConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Config } from '../config.js';
import { OUTPUT_TOPIC_MAX_MESSAGE_BYTES } from './kafka-limits.js';

// kafkajs 2.2.4 schedules a negative timeout on Node 24 (tulios/kafkajs#1751); Node clamps it to 1 ms,
// which is what kafkajs meant, so that one warning is dropped and every other warning still prints.
let warningFilterInstalled = false;
export function dropKafkajsTimeoutWarning(): void {
  if (warningFilterInstalled) return;
  warningFilterInstalled = true;
  const original = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    if (original.length) for (const listener of original) listener(warning);
    else console.warn(warning);
  });
}

const levels: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function createKafka(brokers: string[], logger: Logger, clientId = 'experimentation-worker'): Kafka {
  dropKafkajsTimeoutWarning();
  // Our producers use kafkajs' default (murmur2, Java-compatible) partitioner on purpose.
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 10_000 },
    // kafkajs' INFO lines (joins, rebalances) are routine: keep them at debug.
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...rest } = log;
        // The relay re-sends a batch it could not mark as published, so events are at least once by design
        // (CONTRACT.md); bounded retries on its idempotent producer cost no guarantee we give.
        if (message === 'Limiting retries for the idempotent producer may invalidate EoS guarantees') return;
        // kafkajs logs every error response at ERROR, the retriable ones of a starting broker included; the
        // error also reaches the caller, which retries it or reports it, so these lines are diagnostics.
        const routine = level === logLevel.INFO || (level === logLevel.ERROR && message.startsWith('Response '));
        const target = routine ? 'debug' : (levels[level] ?? 'info');
        kafkaLogger[target](rest, message);
      },
  });
}

/**
 * Topic configuration of the worker's output topics: large replies and events (compressed) must fit, and a DLQ
 * copy is the original message plus headers, so it can be larger than the broker's default limit allows.
 */
export const outputTopicConfig: ITopicConfig['configEntries'] = [{ name: 'max.message.bytes', value: String(OUTPUT_TOPIC_MAX_MESSAGE_BYTES) }];

/** The topics of CONTRACT.md, with their partition counts; the output topics with `outputTopicConfig`. */
export function workerTopics(config: Config): ITopicConfig[] {
  return [
    { topic: config.COMMANDS_TOPIC, numPartitions: config.COMMANDS_PARTITIONS },
    { topic: config.EVENTS_TOPIC, numPartitions: config.TOPIC_PARTITIONS, configEntries: outputTopicConfig },
    { topic: config.REPLIES_TOPIC, numPartitions: config.TOPIC_PARTITIONS, configEntries: outputTopicConfig },
    { topic: config.TRACKING_TOPIC, numPartitions: config.TOPIC_PARTITIONS },
    { topic: config.DLQ_TOPIC, numPartitions: 1, configEntries: outputTopicConfig },
    { topic: config.TRACKING_DLQ_TOPIC, numPartitions: 1, configEntries: outputTopicConfig },
  ];
}

/**
 * Creates the topics that are missing (existing ones are left as they are), then waits until every partition of
 * every one of them has a leader that serves it. A broker that has just started answers "unknown topic-partition"
 * or "leader not available" for a while, and its metadata can name a leader a moment before that leader serves
 * the partition; so the wait asks each leader for the partition's offsets too. Retriable broker errors are
 * retried for up to `timeoutMs`; then it throws, naming what was not ready.
 */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[], timeoutMs = 30_000, logger?: Logger): Promise<string[]> {
  const names = topics.map((t) => t.topic);
  const created = new Set<string>();
  await untilKafkaAnswers(kafka, `topics ${names.join(', ')} with a serving leader for every partition`, timeoutMs, logger, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic)).map((t) => ({ replicationFactor: 1, ...t }));
    // The leader check below does the waiting (kafkajs' own gives up on "unknown topic-partition").
    if (missing.length) await admin.createTopics({ topics: missing, waitForLeaders: false });
    for (const t of missing) created.add(t.topic);
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics: names });
    const leaderless = metadata.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
    if (leaderless.length) throw new KafkaNotReady(`no leader yet for ${leaderless.join(', ')}`);
    await Promise.all(names.map((name) => admin.fetchTopicOffsets(name)));
  });
  return [...created];
}

/**
 * Waits until the group coordinator of each group answers DescribeGroups without an error. Right after a broker
 * starts, the partitions of __consumer_offsets are still being created or loaded ("the coordinator is loading"),
 * and a consumer joining then crashes and restarts. Retriable errors are retried for up to `timeoutMs`.
 */
export async function waitForGroupCoordinator(kafka: Kafka, groupIds: string | string[], timeoutMs = 30_000, logger?: Logger): Promise<void> {
  const groups = typeof groupIds === 'string' ? [groupIds] : groupIds;
  await untilKafkaAnswers(kafka, `the group coordinator of ${groups.join(', ')}`, timeoutMs, logger, async (admin) => {
    await admin.describeGroups(groups);
  });
}

/** A condition the broker will meet by itself soon (retriable, as kafkajs marks such errors). */
class KafkaNotReady extends Error {
  readonly retriable = true;
}

/** True when the error, or an error it wraps (kafkajs' retry wrappers), is one a starting broker answers. */
export function isRetriableKafkaError(error: unknown): boolean {
  let current = error as { retriable?: boolean; name?: string; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    // Not found after kafkajs' retries: __consumer_offsets does not exist yet on a new broker.
    if (current.retriable === true || current.name === 'KafkaJSGroupCoordinatorNotFound') return true;
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return false;
}

/**
 * Runs `attempt` with a fresh admin client until it succeeds, retrying retriable errors until `timeoutMs`.
 * kafkajs' own retries are off here so that the deadline holds. A wait longer than a second (more than a new
 * topic's usual leader election) gets one log line saying what it waits for, and one when it is over.
 */
async function untilKafkaAnswers(
  kafka: Kafka,
  what: string,
  timeoutMs: number,
  logger: Logger | undefined,
  attempt: (admin: Admin) => Promise<void>,
): Promise<void> {
  const started = Date.now();
  let waiting = false;
  for (let round = 0; ; round++) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await attempt(admin);
      if (waiting) logger?.info({ waitedMs: Date.now() - started }, `Kafka ready: ${what}`);
      return;
    } catch (error) {
      const reason = (error as Error).message;
      if (!isRetriableKafkaError(error)) throw error;
      if (Date.now() - started >= timeoutMs) throw new Error(`Kafka was not ready within ${timeoutMs} ms: ${what} (last error: ${reason})`, { cause: error });
      if (!waiting && Date.now() - started >= 1000) {
        logger?.info({ reason, timeoutMs }, `waiting for Kafka: ${what}`);
        waiting = true;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** round, 1000)));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

/** Kafka headers as text (the first value of each, lower-cased names), as the pipeline and the DLQs use them. */
export function stringHeaders(headers: IHeaders | undefined): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    out[name.toLowerCase()] = first === undefined ? undefined : Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}
