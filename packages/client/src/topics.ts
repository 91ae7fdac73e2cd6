import type { Admin, Kafka } from 'kafkajs';

/**
 * Creates the topics that are missing and waits until every partition of each has a leader and answers: on a
 * broker that has just started (or just created them), producing or subscribing earlier fails. Errors kafkajs
 * marks retriable are retried for up to `timeoutMs`; any other is thrown at once.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  for (let round = 0; ; round++) {
    const admin = kafka.admin({ retry: { retries: 0 } });
    try {
      await admin.connect();
      await createAndCheck(admin, topics);
      return;
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

/**
 * Commits the current end of every partition of `topics` as the offsets of `groupId`, a group of the caller's
 * own that has not joined yet: its consumer then starts exactly there. With `fromBeginning: false` and nothing
 * committed, kafkajs would look the end up at the consumer's first fetch, after it has joined, and a message
 * produced in between (a reply to a command sent as soon as the client is connected) would be skipped.
 */
export async function startGroupAtEnd(kafka: Kafka, groupId: string, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: ends.map(({ partition, offset }) => ({ partition, offset })) });
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

class NotReady extends Error {
  readonly retriable = true;
}

async function createAndCheck(admin: Admin, topics: string[]): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((topic) => !existing.has(topic));
  // The leader check below does the waiting (kafkajs' own gives up on "unknown topic-partition").
  if (missing.length) await admin.createTopics({ topics: missing.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: false });
  const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
  const leaderless = metadata.flatMap((t) => t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`));
  if (leaderless.length) throw new NotReady(`no leader yet for ${leaderless.join(', ')}`);
  await Promise.all(topics.map((topic) => admin.fetchTopicOffsets(topic)));
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
