import knexFactory, { type Knex } from 'knex';
import { Partitioners, type Producer } from 'kafkajs';
import { sign } from '../../../src/client/index.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { testDatabaseUrl, testKeys } from '../env.js';
import { unlinkKeys } from '../test-run.js';
import { eventually } from '../harness.js';

// Shared by the guarantee tests (README "Delivery and ordering guarantees"): conditions waited for with a
// deadline, locks the test holds so that concurrency is certain rather than likely, and clean-up.

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `url` with Postgres' application_name set, so the backends of one worker can be told apart in pg_stat_activity. */
export function withApplicationName(url: string, applicationName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('application_name', applicationName);
  return parsed.toString();
}

/**
 * A pool of the test's own on the test database. Not src/db.ts createKnex: that one makes itself the objection
 * models' default knex, which would take over an in-process worker's models.
 */
export function testPool(applicationName: string, max = 4): Knex {
  return knexFactory({ client: 'pg', connection: { connectionString: testDatabaseUrl, application_name: applicationName }, pool: { min: 0, max } });
}

export interface HeldLock {
  /** The backend holding the lock (what the blocked backends' pg_blocking_pids name). */
  pid: number;
  /** Rolls the holding transaction back: what it took is free again, and nothing of it stays. */
  release(): Promise<void>;
}

/** Opens a transaction, runs `take` in it (a SELECT … FOR UPDATE, an uncommitted row in a unique index …) and keeps it open. */
export async function holdLock(knex: Knex, take: (trx: Knex.Transaction) => Promise<unknown>): Promise<HeldLock> {
  const trx = await knex.transaction();
  try {
    const { rows } = await trx.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid');
    await take(trx);
    let released = false;
    return {
      pid: rows[0]!.pid,
      async release() {
        if (released) return;
        released = true;
        await trx.rollback();
      },
    };
  } catch (error) {
    await trx.rollback().catch(() => {});
    throw error;
  }
}

export interface BlockedBackend {
  pid: number;
  blockers: number[];
  query: string;
}

/**
 * The backends of `applicationName` waiting on a lock that `holderPid` holds, or waiting in line behind another
 * such backend for the same lock (Postgres queues row-lock waiters: the second waits on the first).
 */
export async function backendsBlockedBy(knex: Knex, holderPid: number, applicationName: string): Promise<BlockedBackend[]> {
  const { rows } = await knex.raw<{ rows: BlockedBackend[] }>(
    `select pid, pg_blocking_pids(pid) as blockers, query from pg_stat_activity
     where application_name = ? and datname = current_database() and wait_event_type = 'Lock'`,
    [applicationName],
  );
  const blocked = new Set<number>([holderPid]);
  const result: BlockedBackend[] = [];
  // Transitively: a waiter whose every blocker is the holder or a waiter already counted.
  for (let grew = true; grew; ) {
    grew = false;
    for (const row of rows) {
      if (blocked.has(row.pid) || !row.blockers.length || !row.blockers.every((b) => blocked.has(b))) continue;
      blocked.add(row.pid);
      result.push(row);
      grew = true;
    }
  }
  return result;
}

/** Waits until at least `count` backends of `applicationName` are blocked by the lock `holderPid` holds. */
export function untilBlocked(knex: Knex, holderPid: number, applicationName: string, count: number, timeoutMs = 30_000): Promise<BlockedBackend[]> {
  return eventually(`${count} backend(s) of ${applicationName} waiting on the lock of backend ${holderPid}`, async () => {
    const blocked = await backendsBlockedBy(knex, holderPid, applicationName);
    return blocked.length >= count ? blocked : undefined;
  }, timeoutMs, 50);
}

/** The partition kafkajs' default partitioner (the client's) puts `key` on, for a topic of `partitions` partitions. */
export function partitionOf(topic: string, partitions: number, key: string): number {
  const partitioner = Partitioners.DefaultPartitioner();
  return partitioner({
    topic,
    partitionMetadata: Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, partitionErrorCode: 0, replicas: [0], isr: [0] })),
    message: { key, value: '' },
  });
}

/** `base` and a variant of it that lands on another partition of `topic`. */
export function keysOnTwoPartitions(topic: string, partitions: number, base: string): [string, string] {
  for (let i = 0; ; i++) {
    const other = `${base}#${i}`;
    if (partitionOf(topic, partitions, other) !== partitionOf(topic, partitions, base)) return [base, other];
  }
}

/** Removes the BullMQ keys of one test worker's queue prefix (never anything else: Redis is shared). */
export async function deleteQueueKeys(prefix: string): Promise<number> {
  if (!/^test-[0-9]+-[0-9a-f]+-[0-9a-f]+$/.test(prefix)) throw new Error(`refusing to delete keys of prefix ${prefix}`);
  return unlinkKeys(`${prefix}:*`);
}

/**
 * Produces signed messages in ONE produce request. kafkajs runs one fetcher per broker, which fetches again only
 * once every batch of its last fetch is done: two messages sent separately can land in two fetches, and then the
 * second waits for the first to finish. Sent together, they come back in one fetch response, as batches of their
 * partitions, and PARTITIONS_CONSUMED_CONCURRENTLY runs them side by side.
 */
export async function produceTogether(producer: Producer, topic: string, messages: { key: string; value: Buffer }[], key = testKeys.system): Promise<void> {
  await producer.send({
    topic,
    acks: -1,
    messages: messages.map((m) => ({ key: m.key, value: m.value, headers: { 'x-key-id': key.keyId, 'x-signature': sign(m.value, key.secret) } })),
  });
}

/** Deletes topics a test created (on the shared broker too: only the test's own, named by its run id). */
export async function deleteTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = createKafka(brokers, createLogger('error'), 'guarantees-cleanup').admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t));
    if (mine.length) await admin.deleteTopics({ topics: mine, timeout: 15_000 });
  } finally {
    await admin.disconnect();
  }
}
