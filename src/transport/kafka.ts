import { Kafka, logLevel, type ITopicConfig, type LogEntry } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { Config } from '../config.js';

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
        const target = level === logLevel.INFO ? 'debug' : (levels[level] ?? 'info');
        kafkaLogger[target](rest, message);
      },
  });
}

/** The topics of CONTRACT.md, with their partition counts. */
export function workerTopics(config: Config): ITopicConfig[] {
  return [
    { topic: config.COMMANDS_TOPIC, numPartitions: config.COMMANDS_PARTITIONS },
    { topic: config.EVENTS_TOPIC, numPartitions: config.TOPIC_PARTITIONS },
    { topic: config.REPLIES_TOPIC, numPartitions: config.TOPIC_PARTITIONS },
    { topic: config.TRACKING_TOPIC, numPartitions: config.TOPIC_PARTITIONS },
    { topic: config.DLQ_TOPIC, numPartitions: 1 },
  ];
}

/**
 * Creates the topics that are missing; existing ones are left as they are. A broker that has just started can
 * answer retriable errors (unknown topic-partition, leader not available) for a while after kafkajs' own
 * checks give up: those are retried for up to `timeoutMs`.
 */
export async function ensureTopics(kafka: Kafka, topics: ITopicConfig[], timeoutMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const created = new Set<string>();
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic)).map((t) => ({ replicationFactor: 1, ...t }));
      if (missing.length) await admin.createTopics({ topics: missing, waitForLeaders: true });
      for (const t of missing) created.add(t.topic);
      return [...created];
    } catch (error) {
      const retriable = (error as { retriable?: boolean }).retriable === true;
      if (!retriable || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}
