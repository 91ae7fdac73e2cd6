import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { createKnex, migrateLatest } from '../../src/db.js';
import { dropKafkajsTimeoutWarning } from '../../src/transport/kafka.js';

// One integration run's own database, Redis keys and Kafka topics. Everything is named after the run's id,
// `<pid of the vitest process>-<6 hex>`, so that the leftovers of a run that was killed can be told from those
// of a run still going (several runs, from several checkouts, may share these services at once):
//   database  experimentation_test_<pid>_<hex>
//   Redis     test-<pid>-<hex>-…:…          (each test worker's QUEUE_PREFIX, and other test prefixes)
//   topics    test.<pid>-<hex>-….…
// Names of any other shape (a developer's database, older test runs) are never touched here.

/** Where the services are: the variables the worker reads, and the Postgres server the run's database goes on. */
export const services = {
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',').map((b) => b.trim()).filter(Boolean),
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  postgresUrl: process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
};

export interface TestRunInfo {
  id: string;
  databaseUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testRun: TestRunInfo;
  }
}

const DATABASE = /^experimentation_test_(\d+)_([0-9a-f]{6})$/;
const RESOURCE = /^test[.-](\d+)-([0-9a-f]{6})-/;

export const newRunId = (): string => `${process.pid}-${randomBytes(3).toString('hex')}`;
export const runDatabaseName = (runId: string): string => `experimentation_test_${runId.replace('-', '_')}`;

export function databaseUrl(name: string): string {
  const url = new URL(services.postgresUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withPostgres<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: services.postgresUrl, application_name: 'experimentation-test-run' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates and migrates the run's database. The returned session stays connected to it until `end`, which drops
 * it (while the run lives, its database is never without a session: see removeLeftoversOfDeadRuns) and deletes
 * whatever keys and topics of the run its test files did not remove themselves.
 */
export async function startTestRun(): Promise<TestRunInfo & { end(): Promise<void> }> {
  const id = newRunId();
  const name = runDatabaseName(id);
  await withPostgres((client) => client.query(`create database "${name}"`));
  const url = databaseUrl(name);
  const session = new pg.Client({ connectionString: url, application_name: `experimentation-test-run:${id}` });
  const end = async () => {
    const ours = (resource: string) => resource.startsWith(`test-${id}-`) || resource.startsWith(`test.${id}-`);
    const removals = await Promise.allSettled([unlinkKeys(`test-${id}-*`, ours), deleteTopics(ours)]);
    await session.end().catch(() => {});
    await withPostgres((client) => client.query(`drop database if exists "${name}" with (force)`));
    // Left for the next run's removal of dead runs' leftovers (scripts/test.sh also runs it on exit).
    for (const r of removals) if (r.status === 'rejected') console.warn(`[test] warning: ${(r.reason as Error).message}`);
  };
  try {
    await session.connect();
    const knex = createKnex(url, 2);
    await migrateLatest(knex).finally(() => knex.destroy());
  } catch (error) {
    await end().catch(() => {});
    throw error;
  }
  return { id, databaseUrl: url, end };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Redis keys matching `pattern` whose name passes `select`, removed with SCAN + UNLINK (never KEYS or FLUSH). */
export async function unlinkKeys(pattern: string, select: (key: string) => boolean = () => true): Promise<number> {
  const redis = new Redis(services.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  let removed = 0;
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      const chosen = keys.filter(select);
      if (chosen.length) removed += await redis.unlink(...chosen);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
}

/** Topics whose name passes `select`, deleted; retried when some went meanwhile (another run removing them too). */
export async function deleteTopics(select: (topic: string) => boolean): Promise<string[]> {
  dropKafkajsTimeoutWarning();
  const kafka = new Kafka({ clientId: 'test-cleanup', brokers: services.brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3000, retry: { retries: 3 } });
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      const topics = (await admin.listTopics()).filter(select);
      try {
        for (let i = 0; i < topics.length; i += 100) await admin.deleteTopics({ topics: topics.slice(i, i + 100), timeout: 15_000 });
        return topics;
      } catch (error) {
        if (attempt === 3) throw error;
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * Removes what runs that are certainly dead left behind: a run is dead when its vitest process is gone and no
 * session is connected to its database (a run always holds one; this also keeps the runs of another process
 * namespace sharing the database server safe). Their databases are dropped, their keys and topics deleted.
 */
export async function removeLeftoversOfDeadRuns(): Promise<{ runs: string[]; keys: number; topics: number }> {
  const { databases, busy } = await withPostgres(async (client) => {
    const names = await client.query<{ datname: string }>(`select datname from pg_database where datname like 'experimentation\\_test\\_%'`);
    const sessions = await client.query<{ datname: string }>(`select distinct datname from pg_stat_activity where datname like 'experimentation\\_test\\_%'`);
    return { databases: names.rows.map((r) => r.datname).filter((n) => DATABASE.test(n)), busy: new Set(sessions.rows.map((r) => r.datname)) };
  });
  const verdicts = new Map<string, boolean>();
  const dead = (pid: string, hex: string): boolean => {
    const id = `${pid}-${hex}`;
    if (!verdicts.has(id)) verdicts.set(id, !processAlive(Number(pid)) && !busy.has(runDatabaseName(id)));
    return verdicts.get(id)!;
  };
  const ownedByDeadRun = (name: string, shape: RegExp) => {
    const match = shape.exec(name);
    return match !== null && dead(match[1]!, match[2]!);
  };

  for (const name of databases.filter((n) => ownedByDeadRun(n, DATABASE))) {
    await withPostgres((client) => client.query(`drop database if exists "${name}" with (force)`));
  }
  const keys = await unlinkKeys('test-*', (key) => ownedByDeadRun(key, RESOURCE));
  const topics = await deleteTopics((topic) => ownedByDeadRun(topic, RESOURCE));
  return { runs: [...verdicts].filter(([, isDead]) => isDead).map(([id]) => id), keys, topics: topics.length };
}
