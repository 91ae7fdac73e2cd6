import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, systemActor, type Tenant, type TestWorker } from '../harness.js';
import { testDatabaseUrl } from '../env.js';
import { createKafka } from '../../../src/transport/kafka.js';
import { createLogger } from '../../../src/logger.js';
import { holdLock, keysOnTwoPartitions, produceTogether, untilBlocked, withApplicationName } from '../guarantees/helpers.js';
import type { Reply } from '../../../src/contracts/envelope.js';
import { Environment, Organisation, Project } from '../../../src/models/platform.js';
import { CommandRejection, type CommandContext, type CommandHandler, type HandlerResult } from '../../../src/handlers/types.js';
import { createExperiment } from '../../../src/handlers/experiments/create-experiment.js';
import { listExperiments } from '../../../src/handlers/experiments/list-experiments.js';
import { attachMetric } from '../../../src/handlers/experiment-metrics/attach-metric.js';
import { deleteMetric } from '../../../src/handlers/metrics/delete-metric.js';
import { listMetrics } from '../../../src/handlers/metrics/list-metrics.js';
import { checkoutMetric, expectStatus, FORBIDDEN, sender } from './commands.js';

let worker: TestWorker;
// A pool of our own for the handler-level tests: its queries are ours alone to count and to make wait.
let db: Knex;
const APPLICATION_NAME = `domain-races-${randomUUID().slice(0, 8)}`;
// The worker's own connections get a name too, so the Kafka races can see its backends wait (pg_stat_activity).
const WORKER_APPLICATION_NAME = `${APPLICATION_NAME}-worker`;
let producer: Producer;
beforeAll(async () => {
  // A long lock timeout: in the Kafka races both commands wait on a lock the test holds until it has seen both wait.
  worker = await startTestWorker({ DATABASE_URL: withApplicationName(testDatabaseUrl, WORKER_APPLICATION_NAME), COMMAND_LOCK_TIMEOUT_MS: '30000' });
  db = knexFactory({ client: 'pg', connection: { connectionString: testDatabaseUrl, application_name: APPLICATION_NAME }, pool: { min: 0, max: 4 } });
  producer = createKafka(worker.config.KAFKA_BROKERS, createLogger('warn'), 'domain-races-producer').producer();
  await producer.connect();
});
afterAll(async () => {
  await producer?.disconnect();
  await db?.destroy();
  await worker?.stop();
});

describe('who may send environment-scoped commands', () => {
  it('answers 403 for an unknown environment, experimentation off, a non-admin, before any payload check', async () => {
    const tenant = await setupTenant(worker.client);
    const off = await setupTenant(worker.client, { experimentationEnabled: false });
    const stranger = { type: 'user' as const, id: `stranger-${randomUUID().slice(0, 8)}` };
    const attempts: Promise<Reply>[] = [
      sender(worker, tenant, 'env-that-does-not-exist')('metric.list', {}),
      sender(worker, tenant, 'env-that-does-not-exist')('metric.create', checkoutMetric(), systemActor),
      sender(worker, off)('metric.create', checkoutMetric()),
      sender(worker, off)('experiment.list', {}, systemActor),
      sender(worker, tenant)('metric.create', checkoutMetric(), stranger),
      sender(worker, tenant)('metric.create', {}, stranger),
      sender(worker, tenant)('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: '' }, off.admin),
      worker.client.send({ type: 'metric.list', actor: systemActor, payload: {} }),
    ];
    for (const reply of await Promise.all(attempts)) expect({ status: reply.status, body: reply.body }).toEqual({ status: 403, body: FORBIDDEN });
    expect(await worker.knex('metrics').join('environments', 'environments.id', 'metrics.environment_id').whereIn('environments.key', [tenant.environment, off.environment])).toEqual([]);

    // Switching experimentation off later closes the environment too.
    await expectStatus(worker.client.send({ type: 'organisation.upsert', payload: { id: tenant.organisationId, name: 'Org', experimentationEnabled: false } }), 200);
    expect(await sender(worker, tenant)('metric.list', {})).toMatchObject({ status: 403, body: FORBIDDEN });
  });

  it('allows system and admins of the environment, its project or its organisation', async () => {
    const tenant = await setupTenant(worker.client);
    const other = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const grant = async (scope: string, scopeId: string | number) => {
      const userId = `${scope}-admin-${randomUUID().slice(0, 8)}`;
      await expectStatus(worker.client.send({ type: 'access.grant', payload: { userId, scope, scopeId, role: 'admin' } }), 200);
      return { type: 'user' as const, id: userId };
    };
    const environmentAdmin = await grant('environment', tenant.environment);
    const projectAdmin = await grant('project', tenant.projectId);
    const otherEnvironmentAdmin = await grant('environment', other.environment);
    const otherProjectAdmin = await grant('project', other.projectId);

    for (const actor of [systemActor, tenant.admin, environmentAdmin, projectAdmin]) {
      expect(await send('metric.create', checkoutMetric({ name: `by ${actor.id}` }), actor)).toMatchObject({ status: 201 });
    }
    for (const actor of [otherEnvironmentAdmin, otherProjectAdmin, other.admin]) {
      expect(await send('metric.list', {}, actor)).toMatchObject({ status: 403, body: FORBIDDEN });
    }
    await expectStatus(worker.client.send({ type: 'access.revoke', payload: { userId: environmentAdmin.id, scope: 'environment', scopeId: tenant.environment, role: 'admin' } }), 204);
    expect(await send('metric.list', {}, environmentAdmin)).toMatchObject({ status: 403, body: FORBIDDEN });
    // The audit records who acted.
    const audit = await worker.knex('audit_log').where({ environment_key: tenant.environment, resource_type: 'metric' }).orderBy('id').pluck('actor_id');
    expect(audit).toEqual([systemActor.id, tenant.adminUserId, environmentAdmin.id, projectAdmin.id]);
  });
});

describe('environment.delete', () => {
  it('deletes the environment with its metrics, experiments and attachments; then it is unknown', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const environmentId = (await worker.knex('environments').where({ key: tenant.environment }).first()).id;
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const deletedMetric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    await expectStatus(send('metric.delete', { id: deletedMetric.id }), 204);
    const experiment = await expectStatus<{ id: number }>(
      send('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: 'H', metrics: [{ metricId: metric.id, expectedDirection: 'increase' }] }),
      201,
    );
    await expectStatus(send('experiment.start', { id: experiment.id }), 200);

    await expectStatus(worker.client.send({ type: 'environment.delete', payload: { key: tenant.environment } }), 204);
    expect(await worker.knex('metrics').where({ environment_id: environmentId })).toEqual([]);
    expect(await worker.knex('experiments').where({ environment_id: environmentId })).toEqual([]);
    expect(await worker.knex('experiment_metrics').where({ experiment_id: experiment.id })).toEqual([]);
    expect(await send('metric.get', { id: metric.id })).toMatchObject({ status: 403, body: FORBIDDEN });
    expect(await send('experiment.list', {}, systemActor)).toMatchObject({ status: 403, body: FORBIDDEN });
    // The audit outlives the environment.
    expect(await worker.knex('audit_log').where({ environment_key: tenant.environment }).count({ n: '*' })).toEqual([{ n: 6 }]);
  });
});

describe('races through Kafka', () => {
  // Two messages on different partitions, consumed side by side (PARTITIONS_CONSUMED_CONCURRENTLY). Left alone,
  // the two commands may simply run one after the other; so the test holds a row lock both need (FOR UPDATE on
  // the row they both lock or reference), sees in pg_stat_activity that both of the worker's transactions wait
  // on it (the second possibly queued behind the first), and only then releases it: from there the two run
  // against each other and the unique index decides. (Produced in one request so that they come in one fetch:
  // see produceTogether.)
  //
  // Checked that it can fail: without the lock, the wait for two blocked backends times out; with the unique
  // index (experiments_active_feature_unique, experiment_metrics_experiment_metric_unique) dropped, both
  // commands answer 201 and the outcomes assertion fails.
  async function raceOnTwoPartitions(tenant: Tenant, type: string, payload: unknown, lockBothNeed: (trx: Knex.Transaction) => Promise<unknown>): Promise<Reply[]> {
    const keys = keysOnTwoPartitions(worker.config.COMMANDS_TOPIC, worker.config.COMMANDS_PARTITIONS, tenant.environment);
    const envelopes = keys.map(() => worker.client.envelope({ type, environment: tenant.environment, actor: tenant.admin, payload }));
    const lock = await holdLock(db, lockBothNeed);
    try {
      const replies = Promise.all(envelopes.map((e) => worker.client.waitForReply(e.id)));
      await produceTogether(producer, worker.config.COMMANDS_TOPIC, keys.map((key, i) => ({ key, value: Buffer.from(JSON.stringify(envelopes[i])) })));
      expect(await untilBlocked(db, lock.pid, WORKER_APPLICATION_NAME, 2, 15_000)).toHaveLength(2);
      await lock.release();
      return await replies;
    } finally {
      await lock.release();
    }
  }
  const outcomes = (replies: Reply[]) => replies.map((r) => ({ status: r.status, body: r.status >= 400 ? r.body : 'ok' })).sort((a, b) => a.status - b.status);

  it('two creates for one feature: one 201 and one 409', async () => {
    const tenant = await setupTenant(worker.client);
    const replies = await raceOnTwoPartitions(tenant, 'experiment.create', { featureId: tenant.featureId, name: 'Race', hypothesis: '' }, (trx) =>
      // Each insert's foreign-key check takes FOR KEY SHARE on the feature row: both wait (the second behind the first's index entry).
      trx('features').where({ id: tenant.featureId }).forUpdate(),
    );
    expect(outcomes(replies)).toEqual([
      { status: 201, body: 'ok' },
      { status: 409, body: { detail: 'An active experiment already exists for this feature.' } },
    ]);
    expect(await worker.knex('experiments').where({ feature_id: tenant.featureId })).toHaveLength(1);
  });

  it('two attaches of one metric: one 201 and one 400', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const experiment = await expectStatus<{ id: number }>(send('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: '' }), 201);
    const replies = await raceOnTwoPartitions(tenant, 'experiment.metric.attach', { experimentId: experiment.id, metricId: metric.id, expectedDirection: 'increase' }, (trx) =>
      // Attach takes FOR SHARE on the experiment first: both wait here, then run side by side.
      trx('experiments').where({ id: experiment.id }).forUpdate(),
    );
    expect(outcomes(replies)).toEqual([
      { status: 201, body: 'ok' },
      { status: 400, body: { metricId: ['Metric is already attached to this experiment.'] } },
    ]);
    expect(await worker.knex('experiment_metrics').where({ experiment_id: experiment.id })).toHaveLength(1);
  });
});

describe('races at the handler level, in two open transactions', () => {
  interface Outcome {
    status: number;
    body: unknown;
  }

  async function scopeOf(tenant: Tenant) {
    const environment = (await Environment.query(db).findOne({ key: tenant.environment }))!;
    const project = (await Project.query(db).findById(environment.projectId))!;
    const organisation = (await Organisation.query(db).findById(project.organisationId))!;
    return { environment, project, organisation };
  }

  /** Runs `handler` in `trx` as the pipeline does; a rejection is thrown, so the transaction rolls back. */
  async function handle(trx: Knex.Transaction, tenant: Tenant, handler: CommandHandler, payload: unknown): Promise<HandlerResult> {
    const command = { id: randomUUID(), type: handler.type, environment: tenant.environment, actor: systemActor, payload };
    const ctx: CommandContext = { trx, command, actor: systemActor, scope: await scopeOf(tenant), now: new Date(), config: { RESULTS_REFRESH_MIN_INTERVAL_S: 0, CUPED_LOOKBACK_DAYS: 14 } };
    return handler.handle(ctx, handler.payload.parse(payload));
  }

  /** The reply a transaction's result or rejection makes. */
  const outcome = (transaction: Promise<HandlerResult>): Promise<Outcome> =>
    transaction.then(
      (result) => ({ status: result.status, body: result.body }),
      (error: unknown) => {
        if (error instanceof CommandRejection) return { status: error.status, body: error.body };
        throw error;
      },
    );

  /** Waits until one of our connections is blocked on a lock held by another transaction. */
  async function untilOneOfOursWaitsOnALock(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { rows } = await worker.knex.raw(`select count(*)::int as n from pg_stat_activity where application_name = ? and wait_event_type = 'Lock'`, [APPLICATION_NAME]);
      if (rows[0].n > 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('the second transaction never waited for the first');
  }

  /**
   * The first transaction does its work and stays open until the second is blocked on it; then it commits
   * (a rejection rolls back, as in the pipeline), and the second goes on. Proves the database settles it.
   */
  async function race(tenant: Tenant, first: [CommandHandler, unknown], second: [CommandHandler, unknown]): Promise<[Outcome, Outcome]> {
    let firstDone!: () => void;
    const firstDidItsWork = new Promise<void>((resolve) => (firstDone = resolve));
    const a = outcome(
      db.transaction(async (trx) => {
        try {
          const result = await handle(trx, tenant, ...first);
          firstDone();
          await untilOneOfOursWaitsOnALock();
          return result;
        } finally {
          firstDone(); // also when the first was rejected, so the second still runs
        }
      }),
    );
    await firstDidItsWork;
    const b = outcome(db.transaction((trx) => handle(trx, tenant, ...second)));
    return [await a, await b];
  }

  it('two experiment.create for one feature: the partial unique index lets one through, the other gets 409', async () => {
    const tenant = await setupTenant(worker.client);
    const payload = { featureId: tenant.featureId, name: 'Race', hypothesis: '' };
    const [first, second] = await race(tenant, [createExperiment, payload], [createExperiment, payload]);
    expect(first.status).toBe(201);
    expect(second).toEqual({ status: 409, body: { detail: 'An active experiment already exists for this feature.' } });
    expect(await worker.knex('experiments').where({ feature_id: tenant.featureId })).toHaveLength(1);
  });

  it('two attaches of one metric: the unique index lets one through, the other gets 400', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const experiment = await expectStatus<{ id: number }>(send('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: '' }), 201);
    const payload = { experimentId: experiment.id, metricId: metric.id, expectedDirection: 'increase' };
    const [first, second] = await race(tenant, [attachMetric, payload], [attachMetric, { ...payload, expectedDirection: 'decrease' }]);
    expect(first.status).toBe(201);
    expect(second).toEqual({ status: 400, body: { metricId: ['Metric is already attached to this experiment.'] } });
    expect(await worker.knex('experiment_metrics').where({ experiment_id: experiment.id }).pluck('expected_direction')).toEqual(['increase']);
  });

  it('metric.delete racing an attach waits for it and then refuses with 409', async () => {
    const tenant = await setupTenant(worker.client);
    const send = sender(worker, tenant);
    const metric = await expectStatus<{ id: number }>(send('metric.create', checkoutMetric()), 201);
    const experiment = await expectStatus<{ id: number }>(send('experiment.create', { featureId: tenant.featureId, name: 'E', hypothesis: '' }), 201);
    const [attached, deleted] = await race(
      tenant,
      [attachMetric, { experimentId: experiment.id, metricId: metric.id, expectedDirection: 'increase' }],
      [deleteMetric, { id: metric.id }],
    );
    expect(attached.status).toBe(201);
    expect(deleted).toEqual({ status: 409, body: { detail: 'Cannot delete a metric attached to an active experiment. Detach it or complete the experiment first.' } });
    expect((await worker.knex('metrics').where({ id: metric.id }).first()).deleted_at).toBeNull();
  });
});

describe('list query counts', () => {
  /** Inserts `n` metrics and `n` completed experiments, each experiment with two of the metrics attached. */
  async function fillEnvironment(tenant: Tenant, n: number): Promise<void> {
    const environmentId = (await db('environments').where({ key: tenant.environment }).first()).id;
    const metrics = await db('metrics')
      .insert(Array.from({ length: n }, (_, i) => ({ environment_id: environmentId, name: `Metric ${i}`, definition: { version: 1, event: `e${i}` } })))
      .returning('id');
    const experiments = await db('experiments')
      .insert(Array.from({ length: n }, (_, i) => ({ environment_id: environmentId, feature_id: tenant.featureId, name: `Experiment ${i}`, status: 'completed' })))
      .returning('id');
    await db('experiment_metrics').insert(
      experiments.flatMap(({ id }, i) => [
        { experiment_id: id, metric_id: metrics[i]!.id, expected_direction: 'increase' },
        { experiment_id: id, metric_id: metrics[(i + 1) % n]!.id, expected_direction: 'decrease' },
      ].filter((row, j) => j === 0 || n > 1)),
    );
  }

  async function queriesFor(tenant: Tenant, handler: CommandHandler, payload: unknown): Promise<{ queries: number; results: number }> {
    return db.transaction(async (trx) => {
      let queries = 0;
      const count = () => queries++;
      db.on('query', count);
      try {
        const command = { id: randomUUID(), type: handler.type, environment: tenant.environment, actor: systemActor, payload };
        const environment = (await Environment.query(trx).findOne({ key: tenant.environment }))!;
        const project = (await Project.query(trx).findById(environment.projectId))!;
        const organisation = (await Organisation.query(trx).findById(project.organisationId))!;
        queries = 0;
        const ctx: CommandContext = { trx, command, actor: systemActor, scope: { environment, project, organisation }, now: new Date(), config: { RESULTS_REFRESH_MIN_INTERVAL_S: 0, CUPED_LOOKBACK_DAYS: 14 } };
        const result = await handler.handle(ctx, handler.payload.parse(payload));
        const body = result.body as { results: unknown[] };
        return { queries, results: body.results.length };
      } finally {
        db.off('query', count);
      }
    });
  }

  it('metric.list and experiment.list cost the same few queries for 1 row and for 30', async () => {
    const small = await setupTenant(worker.client);
    const large = await setupTenant(worker.client);
    await fillEnvironment(small, 1);
    await fillEnvironment(large, 30);

    expect(await queriesFor(small, listMetrics, {})).toEqual({ queries: 3, results: 1 });
    expect(await queriesFor(large, listMetrics, {})).toEqual({ queries: 3, results: 30 });
    expect(await queriesFor(large, listMetrics, { q: 'metric 1' })).toEqual({ queries: 3, results: 11 });
    expect(await queriesFor(small, listExperiments, {})).toEqual({ queries: 4, results: 1 });
    expect(await queriesFor(large, listExperiments, {})).toEqual({ queries: 4, results: 30 });
    expect(await queriesFor(large, listExperiments, { q: 'checkout_button', status: ['completed'] })).toEqual({ queries: 4, results: 30 });

    // And the views are whole: every experiment with its two attachments, every metric with its two experiments.
    const metrics = await sender(worker, large)('metric.list', { pageSize: 999 });
    expect((metrics.body as { results: { experiments: unknown[] }[] }).results.every((m) => m.experiments.length === 2)).toBe(true);
    const experiments = await sender(worker, large)('experiment.list', {});
    expect((experiments.body as { results: { metrics: unknown[] }[] }).results.every((e) => e.metrics.length === 2)).toBe(true);
  });
});
