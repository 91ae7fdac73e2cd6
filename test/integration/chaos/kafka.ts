import { Kafka, logLevel, type ITopicConfig } from 'kafkajs';
import { dropKafkajsTimeoutWarning } from '../../../src/transport/kafka.js';

// The toolkit's own Kafka client: plain kafkajs, so the chaos tools do not depend on the worker's transport
// code (which they are testing), except for its filter of one harmless kafkajs warning. Patient retries: the soak
// stops the broker on purpose.

export function createToolkitKafka(brokers: string[], clientId: string): Kafka {
  dropKafkajsTimeoutWarning();
  process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
  return new Kafka({
    clientId,
    brokers,
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 30, maxRetryTime: 5000 },
    // Broker outages are part of the plan; the verifier, not the log, says whether anything was lost.
    logLevel: logLevel.NOTHING,
  });
}

/** Creates the topics that are missing (the worker would too; the observer needs them before it subscribes). */
export async function createTopics(kafka: Kafka, topics: ITopicConfig[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.topic)).map((t) => ({ replicationFactor: 1, ...t }));
    if (missing.length) await admin.createTopics({ topics: missing, waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Deletes the run's topics and consumer groups; what is already gone is fine. */
export async function deleteTopicsAndGroups(kafka: Kafka, topics: string[], groups: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const ours = topics.filter((t) => existing.has(t));
    if (ours.length) await admin.deleteTopics({ topics: ours, timeout: 30_000 });
    const listed = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
    const ourGroups = groups.filter((g) => listed.has(g));
    if (ourGroups.length) await admin.deleteGroups(ourGroups).catch(() => {});
  } finally {
    await admin.disconnect();
  }
}
