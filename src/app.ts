import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Consumer, Producer } from 'kafkajs';
import type { Worker } from 'bullmq';
import type { Knex } from 'knex';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { createKnex } from './db.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createKafka, ensureTopics, workerTopics } from './transport/kafka.js';
import { startCommandConsumer } from './transport/command-consumer.js';
import { OutboxRelay } from './transport/outbox-relay.js';
import { startHttpServer } from './transport/http.js';
import { createReplyProducer, kafkaDeadLetterSink, kafkaReplyBatchPublisher, kafkaReplyPublisher } from './transport/kafka-sinks.js';
import { directReplySink } from './pipeline/replies.js';
import { createQueues, jobScheduler, replySink, retryScheduler, type Queues } from './jobs/queues.js';
import { startReplyWorker } from './jobs/reply-worker.js';
import { startCommandRetryWorker } from './jobs/command-retry-worker.js';
import { installSchedules } from './jobs/results-worker.js';
import { CommandPipeline } from './pipeline/command-pipeline.js';
import { Reconciler } from './pipeline/reconciler.js';
import type { PipelinePorts } from './pipeline/ports.js';
import { backgroundJobs } from './background-jobs.js';
import { countParked } from './models/parked.js';
import { readPipelineBacklog } from './models/backlog.js';
import { markRepliesDelivered } from './models/delivery-state.js';
import { opsDashboard } from './ops-pages.js';
import { commandTracing, publishTracing } from './telemetry/tracing.js';

export interface WorkerApp {
  knex: Knex;
  metrics: Metrics;
  queues: Queues;
  pipeline: CommandPipeline;
  reconciler: Reconciler;
  /** The port /healthz, /readyz, /metrics and /ops listen on (useful when HTTP_PORT=0). */
  httpPort: number;
  readiness(): Promise<Record<string, boolean>>;
  stop(): Promise<void>;
}

/**
 * Starts every part of the worker: Kafka topics and consumers, the outbox relay, the reconciler, the BullMQ
 * workers and the HTTP endpoint, and wires the pipeline's ports to their adapters. `stop` undoes it in the
 * reverse order: stop taking new messages, let in-flight work finish (or leave it uncommitted), then close the
 * connections.
 */
export async function startWorkerApp(config: Config, logger: Logger): Promise<WorkerApp> {
  const metrics = createMetrics();
  const knex = createKnex(config.DATABASE_URL, config.DATABASE_POOL_SIZE, logger, {
    statementTimeoutMs: config.COMMAND_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: config.COMMAND_LOCK_TIMEOUT_MS,
  });
  const kafka = createKafka(config.KAFKA_BROKERS, logger);
  const queues = createQueues(config.REDIS_URL, config.QUEUE_PREFIX);
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  let stopping = false;

  try {
    await knex.raw('select 1');
    await queues.connection.ping();
    const created = await ensureTopics(kafka, workerTopics(config), 30_000, logger);
    if (created.length) logger.info({ topics: created }, 'created missing topics');

    // Events must leave in outbox order per key: the relay has an idempotent producer with one request in flight.
    // DLQ messages have no order to keep, so they get a producer that pipelines requests; replies get one of
    // their own that never creates a topic (kafka-sinks.ts).
    const producer: Producer = kafka.producer();
    const replyProducer = createReplyProducer(kafka, logger);
    await producer.connect();
    closers.push({ name: 'kafka producers', close: () => Promise.all([producer.disconnect(), replyProducer.disconnect()]) });
    metrics.parkedSource.count = () => countParked(knex);
    metrics.backlogSource.read = () => readPipelineBacklog(knex);

    const queuedReplies = replySink(queues, { attempts: config.REPLY_DELIVERY_ATTEMPTS });
    // What the reconciler gives again goes by the reply queue (attempts, parking); see the pipeline's ports below.
    const ports: PipelinePorts = {
      replies: queuedReplies,
      retries: retryScheduler(queues, { attempts: config.COMMAND_RETRY_ATTEMPTS, baseDelayMs: config.COMMAND_RETRY_BACKOFF_MS }),
      deadLetters: kafkaDeadLetterSink({ producer, topic: config.DLQ_TOPIC, knex, logger, metrics, tracing: publishTracing }),
      jobs: jobScheduler(queues, () => installSchedules(queues.results, config, { onlyMissing: true })),
    };
    const reconciler = new Reconciler({
      knex,
      ports,
      logger: logger.child({ component: 'reconciler' }),
      intervalMs: config.RECONCILE_INTERVAL_S * 1000,
      inboxReplyRetentionDays: config.INBOX_REPLY_RETENTION_DAYS,
    });
    // The pipeline's replies go straight to Kafka after the commit; the reply queue is the fallback (pipeline/replies.ts).
    const directReplies = directReplySink({
      publisher: kafkaReplyBatchPublisher(replyProducer, publishTracing),
      markDelivered: (ids) => markRepliesDelivered(knex, ids),
      fallback: queuedReplies,
      logger,
      onMarkFailure: () => reconciler.nudge(),
    });
    const pipelinePorts: PipelinePorts = { ...ports, replies: directReplies };
    // Traces (README "Observability"): spans when main.ts started the SDK; otherwise trace contexts only pass through.
    const pipeline = new CommandPipeline({ knex, config, ports: pipelinePorts, logger, metrics, onHandoffFailure: () => reconciler.nudge(), tracing: commandTracing });

    const relay = new OutboxRelay({
      databaseUrl: config.DATABASE_URL,
      createProducer: () => kafka.producer({ idempotent: true, maxInFlightRequests: 1 }),
      logger,
      metrics,
      tracing: publishTracing,
    });
    relay.start();
    closers.push({ name: 'outbox relay', close: () => relay.stop() });

    const workers: Worker[] = [
      startReplyWorker({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, knex, publisher: kafkaReplyPublisher(replyProducer, publishTracing), logger, metrics }),
      startCommandRetryWorker({
        redisUrl: config.REDIS_URL,
        prefix: config.QUEUE_PREFIX,
        runner: { knex, config, pipeline, logger, metrics },
        logger,
        baseDelayMs: config.COMMAND_RETRY_BACKOFF_MS,
      }),
    ];
    const background = await backgroundJobs({ config, logger, metrics, kafka, queues, producer, isStopping: () => stopping });
    workers.push(...background.workers);
    closers.push({ name: 'bullmq workers', close: () => Promise.all(workers.map((w) => w.close())) });
    closers.push({ name: 'background consumers', close: () => background.stop() });

    // At start-up and then every RECONCILE_INTERVAL_S: BullMQ is refilled from Postgres.
    reconciler.start();
    closers.push({ name: 'reconciler', close: () => reconciler.stop() });

    // After the consumer has stopped (closers run in reverse): the delivered marks of its last replies.
    closers.push({ name: 'reply delivery marks', close: () => directReplies.flush() });
    const consumer: Consumer = await startCommandConsumer({
      kafka,
      groupId: config.CONSUMER_GROUP,
      topic: config.COMMANDS_TOPIC,
      partitionsConsumedConcurrently: config.PARTITIONS_CONSUMED_CONCURRENTLY,
      fetchPartitionBytes: config.COMMAND_FETCH_PARTITION_BYTES,
      sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
      pipeline,
      logger,
      isStopping: () => stopping,
    });
    let consumerUp = true;
    consumer.on(consumer.events.CRASH, (e) => {
      logger.error({ error: e.payload.error?.message, restart: e.payload.restart }, 'command consumer crashed');
      if (!e.payload.restart) consumerUp = false;
    });
    closers.push({ name: 'command consumer', close: () => consumer.disconnect() });

    const readiness = async () => {
      const [database, redis, kafkaOk] = await Promise.all([
        knex.raw('select 1').then(() => true, () => false),
        queues.connection.ping().then(() => true, () => false),
        (async () => {
          const admin = kafka.admin();
          try {
            await admin.connect();
            await admin.describeCluster();
            return true;
          } catch {
            return false;
          } finally {
            await admin.disconnect().catch(() => {});
          }
        })(),
      ]);
      return {
        database,
        redis,
        kafka: kafkaOk,
        commandConsumer: consumerUp,
        trackingConsumer: background.trackingConsumerUp(),
        outboxRelay: relay.healthy,
        reconciler: reconciler.healthy,
      };
    };
    const ops = await opsDashboard({ config, logger, queues, knex, kafka });
    const server: Server = await startHttpServer({ host: config.HTTP_HOST, port: config.HTTP_PORT, registry: metrics.registry, readiness, ops });
    closers.push({ name: 'http server', close: () => new Promise((resolve) => server.close(() => resolve(undefined))) });

    return {
      knex,
      metrics,
      queues,
      pipeline,
      reconciler,
      httpPort: (server.address() as AddressInfo).port,
      readiness,
      async stop() {
        stopping = true;
        for (const closer of closers.reverse()) {
          try {
            await closer.close();
          } catch (error) {
            logger.warn({ err: error, part: closer.name }, 'error while stopping');
          }
        }
        await queues.close().catch(() => {});
        await knex.destroy();
      },
    };
  } catch (error) {
    stopping = true;
    for (const closer of closers.reverse()) await closer.close().catch(() => {});
    await queues.close().catch(() => {});
    await knex.destroy().catch(() => {});
    throw error;
  }
}
