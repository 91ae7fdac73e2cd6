import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import type { Kafka } from 'kafkajs';
import { createKafka, waitForGroupCoordinator } from '../../src/transport/kafka.js';
import { createLogger } from '../../src/logger.js';
import { removeLeftoversOfDeadRuns, services, startTestRun } from './test-run.js';

// Runs once before the integration files (in vitest's main process): waits until the broker serves groups,
// removes what killed runs left, and creates the run's own database, which test files get through
// `inject('testRun')` (env.ts). The returned teardown drops the database, whether the tests passed or not.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = services.brokers[0]!;
  try {
    execFileSync(process.execPath, ['scripts/kafka-ready.mjs', broker, '20'], { stdio: 'inherit' });
  } catch {
    throw new Error(`no Kafka broker answers on ${broker}: run the tests with \`npm test\` (it starts one) or \`bash scripts/kafka.sh start\``);
  }
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'info', 'integration-setup');
  await waitForEveryGroupCoordinator(createKafka(services.brokers, logger, 'integration-setup'), logger);

  // Housekeeping: a failure here must not fail this run.
  await removeLeftoversOfDeadRuns().then(
    (removed) => {
      if (removed.runs.length) console.log(`[test] removed the leftovers of ${removed.runs.length} dead test run(s): their databases, ${removed.keys} Redis keys, ${removed.topics} topics`);
    },
    (error: unknown) => console.warn(`[test] warning: could not remove the leftovers of dead test runs: ${(error as Error).message}`),
  );

  const run = await startTestRun();
  project.provide('testRun', { id: run.id, databaseUrl: run.databaseUrl });
  return () => run.end();
}

/**
 * A broker that has just started answers "the coordinator is loading" for a while, separately for each
 * partition of __consumer_offsets. The test files' consumers use random group ids, so every partition must
 * answer: one probe group id per partition (Kafka places a group on abs(groupId.hashCode()) % partitions).
 */
async function waitForEveryGroupCoordinator(kafka: Kafka, logger: ReturnType<typeof createLogger>): Promise<void> {
  await waitForGroupCoordinator(kafka, 'test-broker-probe', 60_000, logger); // creates __consumer_offsets
  const admin = kafka.admin();
  await admin.connect();
  const { topics } = await admin.fetchTopicMetadata({ topics: ['__consumer_offsets'] }).finally(() => admin.disconnect());
  const partitions = topics[0]!.partitions.length;
  const probes = new Map<number, string>();
  for (let i = 0; probes.size < partitions; i++) {
    const groupId = `test-broker-probe-${i}`;
    const partition = offsetsPartitionOf(groupId, partitions);
    if (!probes.has(partition)) probes.set(partition, groupId);
  }
  await waitForGroupCoordinator(kafka, [...probes.values()], 60_000, logger);
}

/** Kafka's placement of a group: Utils.abs(groupId.hashCode()) % partitions, with Java's String.hashCode. */
function offsetsPartitionOf(groupId: string, partitions: number): number {
  let hash = 0;
  for (let i = 0; i < groupId.length; i++) hash = (Math.imul(31, hash) + groupId.charCodeAt(i)) | 0;
  return (hash === -2147483648 ? 0 : Math.abs(hash)) % partitions;
}
