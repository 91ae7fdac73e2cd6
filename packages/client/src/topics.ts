import type { Admin, Kafka } from 'kafkajs';

/** A partition's end (the offset its next message gets) when it was read. */
export interface PartitionEnd {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * Creates the topics that are missing and waits until every partition of each has a leader and answers: on a
 * broker that has just started (or just created them), producing or subscribing earlier fails. Errors kafkajs
 * marks retriable are retried for up to `timeoutMs`; any other is thrown at once. Answers where each partition
 * ends, read last.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], timeoutMs = 30_000): Promise<PartitionEnd[]> {
  const started = Date.now();
  for (let round = 0; ; round++) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      return await createAndCheck(admin, topics);
    } catch (error) {
      if (!isRetriable(error)) throw error;
      if (Date.now() - started >= timeoutMs) {
        throw new Error(`Kafka was not ready within ${timeoutMs} ms: topics ${topics.join(', ')} (last error: ${(error as Error).message})`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100 * 2 ** round, 1000)));
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
}

class NotReady extends Error {
  readonly retriable = true;
}

async function createAndCheck(admin: Admin, topics: string[]): Promise<PartitionEnd[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  // The leader check below does the waiting (kafkajs' own gives up on "unknown topic-partition").
  if (missing.length) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: false });
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  const leaderless = metadata.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
  if (leaderless.length) throw new NotReady(`no leader yet for ${leaderless.join(', ')}`);
  const ends = await Promise.all(topics.map(async (topic) => (await admin.fetchTopicOffsets(topic)).map(({ partition, offset }) => ({ topic, partition, offset }))));
  return ends.flat();
}

// The error, or one it wraps (kafkajs' retry wrappers), is one a starting broker answers.
function isRetriable(error: unknown): boolean {
  let current = error as { retriable?: boolean; name?: string; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current.retriable === true || current.name === 'KafkaJSGroupCoordinatorNotFound') return true;
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return false;
}
