import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExperimentationClient } from '../../../src/client/index.js';
import { loadConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/logger.js';
import { createKafka, ensureTopics, workerTopics } from '../../../src/transport/kafka.js';
import { systemActor, testWorkerEnv, eventually } from '../harness.js';
import { testDatabaseUrl, testKeys, testRedisUrl } from '../env.js';
import { TcpProxy, viaProxy } from '../tcp-proxy.js';
import { WorkerProcess, freePort } from '../worker-process.js';
import { deleteQueueKeys, deleteTopics } from './helpers.js';

// README "Quick start": /readyz answers 200 once Kafka, Postgres and Redis all answer; with one of them down it
// answers 503 naming the failed check. The worker (as users run it, `npm run worker`) reaches Postgres and Redis
// through proxies the test cuts and restores, as a dead server or a broken network would.
//
// Checked that it can fail: with the database check in src/app.ts readiness() made `.then(() => true, () => true)`,
// the wait for `checks.database === false` times out (and the same for redis).

interface Readiness {
  status: number;
  checks?: Record<string, boolean>;
  ms: number;
}

const pgProxy = new TcpProxy('127.0.0.1', Number(new URL(testDatabaseUrl).port || 5432));
const redisProxy = new TcpProxy(new URL(testRedisUrl).hostname, Number(new URL(testRedisUrl).port || 6379));
let worker: WorkerProcess | undefined;
let client: ExperimentationClient | undefined;
let env: Record<string, string>;
let topics: string[] = [];

beforeAll(async () => {
  const pgPort = await pgProxy.start();
  const redisPort = await redisProxy.start();
  const redisUrl = new URL(testRedisUrl);
  redisUrl.hostname = '127.0.0.1';
  redisUrl.port = String(redisPort);
  env = testWorkerEnv({ HTTP_PORT: String(await freePort()), DATABASE_URL: viaProxy(testDatabaseUrl, pgPort), REDIS_URL: redisUrl.toString() });
  const config = loadConfig(env);
  const kafka = createKafka(config.KAFKA_BROKERS, createLogger('warn'), 'readyz-test');
  const replyTopic = `${config.REPLIES_TOPIC}.client`;
  await ensureTopics(kafka, [...workerTopics(config), { topic: replyTopic, numPartitions: 1 }]);
  client = new ExperimentationClient({ kafka, ...testKeys.system, commandsTopic: config.COMMANDS_TOPIC, eventsTopic: config.EVENTS_TOPIC, replyTopic, defaultActor: systemActor });
  topics = [...workerTopics(config).map((t) => t.topic), replyTopic];
  await client.connect();
  worker = new WorkerProcess(env);
  await worker.start();
});
afterAll(async () => {
  const code = await worker?.kill('SIGTERM');
  if (code !== 0 && worker) console.log(`worker exited with ${code}:\n${worker.output.slice(-4000)}`);
  await client?.disconnect();
  await pgProxy.stop();
  await redisProxy.stop();
  if (env) await deleteQueueKeys(env.QUEUE_PREFIX!);
  if (topics.length) await deleteTopics(loadConfig(env).KAFKA_BROKERS, topics);
});

/** One GET /readyz. A request that does not answer within 10 s counts as a failure of its own (it must answer). */
async function readyz(): Promise<Readiness> {
  const started = Date.now();
  const response = await fetch(`http://127.0.0.1:${worker!.port}/readyz`, { signal: AbortSignal.timeout(10_000) });
  const body = (await response.json()) as { checks?: Record<string, boolean> };
  return { status: response.status, checks: body.checks, ms: Date.now() - started };
}

const untilReadiness = (what: string, predicate: (r: Readiness) => boolean, timeoutMs = 30_000) =>
  eventually(what, async () => {
    const r = await readyz();
    return predicate(r) ? r : undefined;
  }, timeoutMs, 200);

const allTrue = (checks: Record<string, boolean> | undefined) => !!checks && Object.values(checks).every(Boolean);

describe('/readyz while a dependency is down', () => {
  it('answers 503 with checks.database false while Postgres is cut, 200 again once it is back', async () => {
    expect(await readyz()).toMatchObject({ status: 200 });
    pgProxy.cut();
    try {
      const down = await untilReadiness('503 with checks.database false', (r) => r.status === 503 && r.checks?.database === false);
      // Only the database is named; Redis and Kafka still answer.
      expect(down.checks).toMatchObject({ database: false, redis: true, kafka: true });
    } finally {
      pgProxy.restore();
    }
    const up = await untilReadiness('200 after Postgres is back', (r) => r.status === 200);
    expect(allTrue(up.checks)).toBe(true);
  });

  it('answers 503 with checks.redis false while Redis is cut, 200 again once it is back', async () => {
    expect(await readyz()).toMatchObject({ status: 200 });
    redisProxy.cut();
    try {
      const down = await untilReadiness('503 with checks.redis false', (r) => r.status === 503 && r.checks?.redis === false);
      expect(down.checks).toMatchObject({ redis: false, database: true, kafka: true });
    } finally {
      redisProxy.restore();
    }
    const up = await untilReadiness('200 after Redis is back', (r) => r.status === 200);
    expect(allTrue(up.checks)).toBe(true);
  });

  it('is ready for commands again: a command sent after both outages is answered', async () => {
    const id = randomInt(1e6, 2e9);
    const reply = await client!.send({ type: 'organisation.upsert', key: String(id), payload: { id, name: `Org ${id}`, experimentationEnabled: false } }, { timeout: 30_000 });
    expect(reply.status).toBe(200);
  });
});
