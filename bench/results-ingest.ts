// Tracking ingest of the results benchmark (bench/results.ts): `events` tracking events produced to a fresh topic
// (3 partitions), then the real tracking consumer (src/transport/tracking-consumer.ts) started on it and timed from
// its first stored batch to the last: events/s through Kafka into Postgres, results state included. The events
// belong to a running experiment whose state exists before they arrive, so the ingester keeps it: 50,000
// identities, each exposed once (every tenth event is an exposure) and with events before and after its exposure,
// in arrival order and in time (timestamps over the last two hours, not in arrival order). At the end the state's
// input is checked against the raw events' (results-compare.ts).
import type { Knex } from 'knex';
import { createMetrics } from '../src/metrics.js';
import { createKafka, ensureTopics } from '../src/transport/kafka.js';
import { startTrackingConsumer } from '../src/transport/tracking-consumer.js';
import { loadResultsSubject } from '../src/results/results-query.js';
import { buildResultsState, stateFor } from '../src/results/results-state.js';
import { compareWithRaw } from './results-compare.js';
import { config, createExperiment, createTenant, logger, peakRssMB, resetPeakRss, round } from './results-data.js';

export async function benchIngest(knex: Knex, events: number, label: string) {
  const tenant = await createTenant(knex, `ingest-${label}`);
  const experimentId = await createExperiment(knex, tenant, new Date(Date.now() - 3 * 3_600_000), `ingest ${label}`);
  const subject = (await loadResultsSubject(knex, experimentId))!;
  if (!(await buildResultsState(knex, stateFor(subject, config.CUPED_LOOKBACK_DAYS)))) throw new Error('state build lost');
  const topic = `${config.TRACKING_TOPIC}.${label}`;
  const ingestConfig = { ...config, TRACKING_TOPIC: topic, TRACKING_CONSUMER_GROUP: `${config.TRACKING_CONSUMER_GROUP}.${label}` };
  const kafka = createKafka(config.KAFKA_BROKERS, logger, 'bench');
  await ensureTopics(kafka, [{ topic, numPartitions: 3 }, { topic: config.TRACKING_DLQ_TOPIC, numPartitions: 1 }]);
  const producer = kafka.producer();
  await producer.connect();
  const now = Date.now();
  const produceStart = performance.now();
  const chunk = 10_000;
  for (let sent = 0; sent < events; sent += chunk) {
    const messages = [];
    for (let i = sent; i < Math.min(events, sent + chunk); i++) {
      // Identity i % 50,000 is exposed in pass ⌊i / 50,000⌋ ≡ its own number (mod 10): once in 500,000 events.
      const exposure = i % 10 === Math.floor(i / 50_000) % 10;
      const at = new Date(now - (i % 7200) * 1000).toISOString();
      const identifier = `user-${i % 50_000}`;
      messages.push({
        key: `u${i % 50_000}`,
        value: JSON.stringify(
          exposure
            ? { environment: tenant.environmentKey, event: '$flag_exposure', identifier, feature: tenant.featureName, value: (i % 50_000) % 2 === 0 ? 'control' : 'variant_a', timestamp: at }
            : { environment: tenant.environmentKey, event: i % 3 === 0 ? 'purchase' : 'page_view', identifier, value: i % 3 === 0 ? (i % 97) + 0.5 : undefined, timestamp: at },
        ),
      });
    }
    await producer.send({ topic, messages });
  }
  const produceSeconds = (performance.now() - produceStart) / 1000;
  await producer.disconnect();

  const metrics = createMetrics();
  let stopping = false;
  const consumerProducer = kafka.producer();
  await consumerProducer.connect();
  resetPeakRss();
  const started = performance.now();
  const consumer = await startTrackingConsumer({ kafka, knex, producer: consumerProducer, config: ingestConfig, logger, metrics, isStopping: () => stopping });
  let first: number | undefined;
  let firstCount = 0;
  for (;;) {
    const stored = (await metrics.trackingAccepted.get()).values[0]?.value ?? 0;
    if (stored > 0 && first === undefined) {
      first = performance.now();
      firstCount = stored;
    }
    if (stored >= events) break;
    if (performance.now() - started > 900_000) throw new Error(`ingest stalled at ${stored}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const done = performance.now();
  const peak = peakRssMB();
  stopping = true;
  await consumer.disconnect();
  await consumerProducer.disconnect();
  const stored = async (table: string) => Number(((await knex(table).where('environment_id', tenant.environmentId).count({ n: '*' }).first()) as { n: number }).n);
  const n = await stored('tracking_events');
  if (n !== events) throw new Error(`stored ${n}, expected ${events}`);
  const steadySeconds = (done - first!) / 1000;
  const agreement = await compareWithRaw(knex, experimentId);
  const identities = Number(((await knex('results_identities').where('experiment_id', experimentId).count({ n: '*' }).first()) as { n: number }).n);
  return {
    events,
    produceSeconds: round(produceSeconds),
    consumerStartToDoneSeconds: round((done - started) / 1000),
    steadySeconds: round(steadySeconds),
    eventsPerSecond: Math.round((events - firstCount) / steadySeconds),
    eventsPerSecondIncludingGroupJoin: Math.round(events / ((done - started) / 1000)),
    peakRssMB: peak,
    stateIdentities: identities,
    stateVsRaw: agreement,
  };
}
