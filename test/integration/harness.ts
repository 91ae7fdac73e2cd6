import { randomInt, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { ExperimentationClient } from '../../src/client/index.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startWorkerApp, type WorkerApp } from '../../src/app.js';
import { createKafka } from '../../src/transport/kafka.js';
import type { Actor } from '../../src/contracts/envelope.js';
import { testBrokers, testCommandKeys, testDatabaseUrl, testKeys, testRedisUrl } from './env.js';

export const systemActor: Actor = { type: 'system', id: 'integration-test' };

/** Environment for a worker of one test file: its own topics, consumer group and queue prefix. */
export function testWorkerEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const run = randomUUID().slice(0, 8);
  return {
    KAFKA_BROKERS: testBrokers,
    DATABASE_URL: testDatabaseUrl,
    REDIS_URL: testRedisUrl,
    COMMAND_KEYS: testCommandKeys,
    COMMANDS_TOPIC: `test.${run}.commands`,
    EVENTS_TOPIC: `test.${run}.events`,
    REPLIES_TOPIC: `test.${run}.replies`,
    TRACKING_TOPIC: `test.${run}.tracking`,
    DLQ_TOPIC: `test.${run}.commands.dlq`,
    CONSUMER_GROUP: `test.${run}.worker`,
    TRACKING_CONSUMER_GROUP: `test.${run}.tracking`,
    QUEUE_PREFIX: `test-${run}`,
    COMMAND_RETRY_BACKOFF_MS: '200',
    COMMAND_RETRY_ATTEMPTS: '6',
    RESULTS_REFRESH_MIN_INTERVAL_S: '0',
    HTTP_PORT: '0',
    KAFKA_SESSION_TIMEOUT_MS: '8000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...overrides,
  };
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
  const newClient = async (scope: 'system' | 'user' = 'system') => {
    const client = new ExperimentationClient({
      kafka: createKafka(config.KAFKA_BROKERS, logger, 'integration-test-client'),
      ...testKeys[scope],
      commandsTopic: config.COMMANDS_TOPIC,
      eventsTopic: config.EVENTS_TOPIC,
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
      for (const c of clients) await c.disconnect().catch(() => {});
      await app.stop();
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
