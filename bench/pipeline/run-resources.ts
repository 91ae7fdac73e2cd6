import { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import pg from 'pg';
import { runToEnd } from './processes.js';

// What one bench run creates outside itself (a database, topics and consumer groups, Redis keys), named after
// the run, and removed again at its end, on failure and on Ctrl-C. Nothing not named after the run is touched.

export interface RunNames {
  run: string;
  database: string;
  databaseUrl: string;
  /** Prefix of every topic and consumer group of the run. */
  kafkaPrefix: string;
  /** Prefix of every BullMQ key of the run's workers. */
  redisPrefix: string;
}

export function runNames(run: string, serverUrl: string): RunNames {
  const database = `experimentation_bench_${run}`;
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return { run, database, databaseUrl: url.toString(), kafkaPrefix: `bench.${run}.`, redisPrefix: `bench-${run}-` };
}

type Step = { what: string; undo: () => Promise<void> };

/** Undo steps, run last-in first-out; each one's failure is reported and the others still run. */
export class Cleanup {
  private steps: Step[] = [];

  add(what: string, undo: () => Promise<void>): void {
    this.steps.push({ what, undo });
  }

  async runAll(log: (message: string) => void): Promise<void> {
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      try {
        await step.undo();
      } catch (error) {
        log(`clean-up: ${step.what} failed: ${(error as Error).message}`);
      }
    }
  }
}

/** Creates and migrates the run's database with the worker's own migrate command. */
export async function createDatabase(names: RunNames, cleanup: Cleanup, serverUrl: string, logFile: string, workerDir: string): Promise<void> {
  cleanup.add(`dropping database ${names.database}`, () => dropDatabase(serverUrl, names.database));
  await runToEnd('migrate', ['src/cli/migrate.ts'], { DATABASE_URL: names.databaseUrl, LOG_LEVEL: 'warn' }, logFile, workerDir);
}

async function dropDatabase(serverUrl: string, database: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
    await client.query(`drop database if exists "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}

export async function deleteKafkaObjects(admin: Admin, prefix: string): Promise<void> {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  if (topics.length) await admin.deleteTopics({ topics, timeout: 30_000 });
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
  if (groups.length) await admin.deleteGroups(groups).catch(() => undefined); // a group still settling is removed by the broker later
}

export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}
