import { randomInt, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { ExperimentationClient } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorkerApp, type WorkerApp } from '../../src/app.js';
import { createKafka } from '../../src/transport/kafka.js';
import type { Actor } from '../../src/contracts/envelope.js';
import { testBrokers, testCommandKeys, testDatabaseUrl, testKeys, testRedisUrl, testResourceName } from './env.js';
import { deleteTopics, unlinkKeys } from './test-run.js';

export const systemActor: Actor = { type: 'system', id: 'integration-test' };

/**
 * Environment for a worker of one test file: its own topics, consumer groups and queue prefix, all named
 * `test-<tag>` / `test.<tag>.…` with a tag of this run's (env.ts), so that removeTestWorkerResources and the
 * removal of dead runs' leftovers find them.
 */
export function testWorkerEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const prefix = testResourceName('-');
  const topic = (name: string) => `${topicPrefixOf({ QUEUE_PREFIX: prefix })}${name}`;
  return {
    KAFKA_BROKERS: testBrokers,
    DATABASE_URL: testDatabaseUrl,
    REDIS_URL: testRedisUrl,
    COMMAND_KEYS: testCommandKeys,
    COMMANDS_TOPIC: topic('commands'),
    EVENTS_TOPIC: topic('events'),
    REPLIES_TOPIC: topic('replies'),
    TRACKING_TOPIC: topic('tracking'),
    DLQ_TOPIC: topic('commands.dlq'),
    TRACKING_DLQ_TOPIC: topic('tracking.dlq'),
    CONSUMER_GROUP: topic('worker'),
    TRACKING_CONSUMER_GROUP: topic('tracking'),
    QUEUE_PREFIX: prefix,
    COMMAND_RETRY_BACKOFF_MS: '200',
    COMMAND_RETRY_ATTEMPTS: '6',
    RESULTS_REFRESH_MIN_INTERVAL_S: '0',
    HTTP_PORT: '0',
    KAFKA_SESSION_TIMEOUT_MS: '8000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...overrides,
  };
}

/** `test.<tag>.`: the start of every topic of a test worker's environment, its clients' reply topics included. */
export function topicPrefixOf(env: Record<string, string>): string {
  return `test.${env.QUEUE_PREFIX!.slice('test-'.length)}.`;
}

/** Deletes a test worker's topics and Redis keys, once it and its clients have stopped. */
export async function removeTestWorkerResources(env: Record<string, string>): Promise<void> {
  const topicPrefix = topicPrefixOf(env);
  await Promise.all([deleteTopics((topic) => topic.startsWith(topicPrefix)), unlinkKeys(`${env.QUEUE_PREFIX}:*`)]);
}

export interface TestWorker {
  app: WorkerApp;
  client: ExperimentationClient;
  knex: Knex;
  config: Config;
  env: Record<string, string>;
  /** A client for the same topics, signing with a key of the given scope. */
  newClient(scope?: 'system' | 'user'): Promise<ExperimentationClient>;
  stop(): Promise<void>;
}

/** An in-process worker on the real broker, database and Redis, with a connected client. */
export async function startTestWorker(overrides: Record<string, string> = {}): Promise<TestWorker> {
  const env = testWorkerEnv(overrides);
  const config = loadConfig(env);
  const logger = createLogger(config.LOG_LEVEL);
  const app = await startWorkerApp(config, logger);
  const clients: ExperimentationClient[] = [];
  let clientsMade = 0;
  const newClient = async (scope: 'system' | 'user' = 'system') => {
    const client = new ExperimentationClient({
      kafka: createKafka(config.KAFKA_BROKERS, logger, 'integration-test-client'),
      ...testKeys[scope],
      commandsTopic: config.COMMANDS_TOPIC,
      eventsTopic: config.EVENTS_TOPIC,
      replyTopic: `${topicPrefixOf(env)}client-${clientsMade++}.replies`,
      defaultActor: systemActor,
      subscribeToEvents: true,
    });
    await client.connect();
    clients.push(client);
    return client;
  };
  const client = await newClient('system');
  return {
    app,
    client,
    knex: app.knex,
    config,
    env,
    newClient,
    async stop() {
      try {
        for (const c of clients) await c.disconnect().catch(() => {});
        await app.stop();
      } finally {
        await removeTestWorkerResources(env);
      }
    },
  };
}

export interface Tenant {
  organisationId: number;
  projectId: number;
  environment: string;
  featureId: number;
  standardFeatureId: number;
  adminUserId: string;
  admin: Actor;
}

const nextId = () => randomInt(1_000_000, 2_000_000_000);

/** Sends the platform commands for a fresh organisation, project, environment, features and admin. */
export async function setupTenant(
  client: ExperimentationClient,
  options: { experimentationEnabled?: boolean; variants?: { key: string; percentageAllocation: number }[] } = {},
): Promise<Tenant> {
  const organisationId = nextId();
  const projectId = nextId();
  const featureId = nextId();
  const standardFeatureId = nextId();
  const environment = `env-${randomUUID().slice(0, 12)}`;
  const adminUserId = `admin-${randomUUID().slice(0, 8)}`;
  const ok = async (type: string, payload: unknown) => {
    const reply = await client.send({ type, actor: systemActor, payload, key: String(organisationId) });
    if (reply.status >= 300) throw new Error(`${type} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  };
  await ok('organisation.upsert', { id: organisationId, name: `Org ${organisationId}`, experimentationEnabled: options.experimentationEnabled ?? true });
  await ok('project.upsert', { id: projectId, organisationId, name: `Project ${projectId}` });
  await ok('environment.upsert', { key: environment, projectId, name: 'Production' });
  await ok('feature.upsert', {
    id: featureId,
    projectId,
    name: `checkout_button_${featureId}`,
    type: 'MULTIVARIATE',
    variants: options.variants ?? [{ key: 'variant_a', percentageAllocation: 50 }],
  });
  await ok('feature.upsert', { id: standardFeatureId, projectId, name: `plain_flag_${standardFeatureId}`, type: 'STANDARD', variants: [] });
  await ok('access.grant', { userId: adminUserId, scope: 'organisation', scopeId: String(organisationId), role: 'admin' });
  return { organisationId, projectId, environment, featureId, standardFeatureId, adminUserId, admin: { type: 'user', id: adminUserId } };
}

/**
 * Polls `check` every `everyMs` until it answers something other than undefined or false, and returns that. A check
 * that throws is tried again; after `timeoutMs` the error names what was waited for (and the last error, if any).
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as T;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** How many messages `topic` holds (Σ high − low watermark over its partitions). */
export async function messageCount(config: Pick<Config, 'KAFKA_BROKERS'>, topic: string): Promise<number> {
  const admin = createKafka(config.KAFKA_BROKERS, createLogger('error'), 'test-offsets').admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}
