import { byteCappedChunks } from './kafka-limits.js';

// How the command consumer turns kafkajs' per-partition eachBatch calls back into one unit of work per fetch.
//
// kafkajs 2.2.4 fetches every assigned partition of a broker in one request, hands each partition's batch to
// its own eachBatch call (up to partitionsConsumedConcurrently at once), and fetches again only when all of them
// have returned. Worked on separately, the batches of a cycle at a moderate rate (200–500 commands/s: a few
// messages per partition) each paid a whole group's fixed cost (look-up, BEGIN, record statement, COMMIT, reply
// produce, delivery mark) side by side, on six connections competing for two cores; measured at 500/s: 19 ms
// of group work for 3 commands, a 40 ms fetch cycle. Collected, the cycle's small batches are one stretch: one
// group, one commit, one reply request. Large batches (a backlog) keep a unit each, so partitions still run
// side by side where there is enough work to fill a group.

interface Waiting<B> {
  batch: B;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the batches handed over together (eachBatch calls made before the event loop turns: kafkajs starts
 * all of a fetch's batches in one go) and runs `work` once with all of them. Each caller's promise settles when
 * that run does, so kafkajs' next fetch still waits for the work of this one.
 */
export function fetchCycles<B>(work: (batches: B[]) => Promise<void>): (batch: B) => Promise<void> {
  let waiting: Waiting<B>[] = [];
  const flush = () => {
    const taken = waiting;
    waiting = [];
    work(taken.map((w) => w.batch)).then(
      () => taken.forEach((w) => w.resolve()),
      (error: unknown) => taken.forEach((w) => w.reject(error)),
    );
  };
  return (batch) =>
    new Promise<void>((resolve, reject) => {
      if (waiting.push({ batch, resolve, reject }) === 1) setImmediate(flush);
    });
}

/**
 * Packs a cycle's batches into units run side by side: batches of fewer than `size` messages share a unit (up
 * to `size` messages in all), a batch of `size` or more is a unit of its own. Units never share a partition, so
 * per-key order (a key lives on one partition) holds whatever order they finish in.
 */
export function packUnits<B extends { messages: readonly unknown[] }>(batches: readonly B[], size: number): B[][] {
  const large = batches.filter((b) => b.messages.length >= size);
  const small = batches.filter((b) => b.messages.length < size);
  // The same greedy packing as a produce request's messages, the cap a count of messages here.
  return [...large.map((b) => [b]), ...byteCappedChunks(small, (b) => b.messages.length, size)];
}
