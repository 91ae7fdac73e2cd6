import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import type { CommandPipeline, InboundMessage } from '../pipeline/command-pipeline.js';
import { BatchStopped } from '../pipeline/retry-in-place.js';
import { stringHeaders, waitForGroupCoordinator } from './kafka.js';
import { fetchCycles, packUnits } from './fetch-cycle.js';

/**
 * A partition's batch is worked through in stretches of this many messages: small enough that replies are not
 * held back long, large enough to find several keys to run side by side.
 */
const STRETCH_SIZE = 64;

/**
 * Offsets are committed at most this often. A commit is a broker request of its own (at 200-500 commands/s, one
 * per fetch cycle was 40-90 a second); committed later, what is answered stays uncommitted a little longer, and a
 * crash leaves at most this much more to redo, which the inbox answers without running anything again.
 */
const COMMIT_INTERVAL_MS = 200;

/**
 * Consumes the commands topic in a consumer group. The batches of one fetch are worked on together
 * (fetch-cycle.ts): small ones share stretches across partitions, large ones have their own. Each stretch goes to
 * the pipeline, which returns once every outcome in it is durable (src/pipeline/command-pipeline.ts); only then
 * are its partitions' offsets resolved. On shutdown or a lost partition the pipeline stops early and the rest stays
 * uncommitted for the partition's next owner, which redoes only what is not in the inbox.
 */
export async function startCommandConsumer(options: {
  kafka: Kafka;
  groupId: string;
  topic: string;
  partitionsConsumedConcurrently: number;
  /** maxBytesPerPartition: bounds the messages a fetch cycle holds (backpressure on a backlog). */
  fetchPartitionBytes: number;
  sessionTimeoutMs: number;
  pipeline: CommandPipeline;
  logger: Logger;
  isStopping: () => boolean;
}): Promise<Consumer> {
  const { kafka, pipeline, logger, isStopping } = options;
  const consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: Math.min(3000, Math.floor(options.sessionTimeoutMs / 3)),
    maxWaitTimeInMs: 100,
    // kafkajs' default, 1 MiB per partition, hands a backlog over some 2,000 messages per partition at a time
    // (12,000 for six), all held until the cycle's last unit is done, seconds later. 128 KiB (some 250 each)
    // bounds what a cycle holds and how much a crash leaves to redo; throughput unchanged within the noise.
    maxBytesPerPartition: options.fetchPartitionBytes,
  });

  const commitResolved = coalescedCommits(COMMIT_INTERVAL_MS);
  const live = (b: EachBatchPayload) => b.isRunning() && !b.isStale();

  /** A unit of the cycle (fetch-cycle.ts): its partitions' messages in stretches, each partition in order. */
  const runUnit = async (unit: EachBatchPayload[]): Promise<void> => {
    const control = { heartbeat: unit[0]!.heartbeat, isStopping, isLive: () => unit.every(live) };
    const messages = unit.flatMap((payload) => payload.batch.messages.map((message) => ({ payload, message })));
    for (let start = 0; start < messages.length; start += STRETCH_SIZE) {
      if (!control.isLive() || isStopping()) break;
      const stretch = messages.slice(start, start + STRETCH_SIZE);
      const inbound: InboundMessage[] = stretch.map(({ payload, message: m }) => ({
        topic: payload.batch.topic,
        partition: payload.batch.partition,
        offset: m.offset,
        key: m.key,
        value: m.value,
        headers: stringHeaders(m.headers),
      }));
      try {
        await pipeline.processStretch(inbound, control);
      } catch (error) {
        if (!(error instanceof BatchStopped)) logger.error({ err: error, partitions: unit.map((p) => p.batch.partition) }, 'command batch stopped early');
        break;
      }
      // Each partition's last offset in the stretch (a stretch holds each partition's messages in order).
      const last = new Map<EachBatchPayload, string>();
      for (const { payload, message } of stretch) last.set(payload, message.offset);
      for (const [payload, offset] of last) payload.resolveOffset(offset);
      await control.heartbeat().catch(() => {});
    }
  };

  const cycle = fetchCycles<EachBatchPayload>(async (batches) => {
    await Promise.all(packUnits(batches.map(asUnitBatch), STRETCH_SIZE).map((unit) => runUnit(unit.map((u) => u.payload))));
    // Any batch's commitOffsetsIfNecessary commits every offset resolved in the consumer. The offsets resolved
    // are of outcomes already in Postgres, so the next fetch need not wait for the commit (measured: 6–9 ms of
    // a 25 ms cycle at 500 commands/s); a commit that fails leaves them to the next one, or to the partition's
    // next owner, which redoes the uncommitted rest answered from the inbox. Stopping, the last commit is waited
    // for, so a graceful stop leaves nothing to redo.
    const committed = commitResolved(() => batches[0]!.commitOffsetsIfNecessary(), { urgent: isStopping() });
    if (isStopping()) return committed.catch(() => {});
    committed.catch((error: unknown) => {
      if (batches.some(live) && !isStopping()) logger.warn({ err: error }, 'could not commit command offsets; the next commit carries them');
    });
  });

  await consumer.connect();
  await consumer.subscribe({ topic: options.topic, fromBeginning: true });
  // A broker that has just started answers "coordinator is loading" for a while: wait for it here, not in a crash loop.
  await waitForGroupCoordinator(kafka, options.groupId, 30_000, logger);
  await consumer.run({
    partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
    eachBatchAutoResolve: false,
    // kafkajs 2.2.4 would commit after every batch, one OffsetCommit per partition one after another (about a
    // third of a fetch cycle at low rates); here the batches of a fetch cycle share one commit, sent when their
    // outcomes are durable (see above). A threshold of 1 makes commitOffsetsIfNecessary commit whatever is resolved.
    autoCommit: false,
    autoCommitThreshold: 1,
    eachBatch: cycle,
  });
  return consumer;
}

const asUnitBatch = (payload: EachBatchPayload) => ({ payload, messages: payload.batch.messages });

/**
 * Commits resolved offsets, one request at a time and at most one every `minIntervalMs`: a caller arriving while a
 * commit is in flight, or sooner than that after the last one started, waits for the next one, which carries every
 * offset resolved meanwhile. An urgent caller (stopping) does not wait out the interval.
 */
export function coalescedCommits(minIntervalMs = 0): (commit: () => Promise<void>, options?: { urgent?: boolean }) => Promise<void> {
  let inFlight: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  let lastStart = -Infinity;
  const start = (commit: () => Promise<void>) => {
    lastStart = Date.now();
    inFlight = commit().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  const untilDue = () => Math.max(0, lastStart + minIntervalMs - Date.now());
  const settledInFlight = () => (inFlight ?? Promise.resolve()).catch(() => {});
  return (commit, { urgent = false } = {}) => {
    if (!inFlight && !next && (urgent || untilDue() === 0)) return start(commit);
    if (urgent) return settledInFlight().then(() => start(commit));
    next ??= settledInFlight()
      .then(() => {
        const ms = untilDue();
        return ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : undefined;
      })
      .then(() => {
        next = undefined;
        return start(commit);
      });
    return next;
  };
}
