import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, messageCount, setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { PartitionManager, dayStart } from '../../../src/results/tracking-store.js';
import {
  collectTopic,
  commandSender,
  createMetric,
  referenceResults,
  trackingProducer,
  waitForResultsEvent,
  waitForStored,
  type Aggregation,
  type CollectedMessage,
  type TrackingInput,
} from '../results/helpers.js';

// CONTRACT.md "Tracking values": a numeric value must be finite with absolute value at most 1e12, else the event
// goes to the tracking DLQ; and results never fail because of one event's value, also for values stored before
// that bound (written here straight into tracking_events, as an older version could have).

const OUT_OF_RANGE = 'invalid tracking event: value: must be a finite number with absolute value at most 1e12';

describe('hostile tracking values', () => {
  let worker: TestWorker;
  let producer: Producer;
  let tenant: Tenant;
  let send: ReturnType<typeof commandSender>;
  let dlq: { messages: CollectedMessage[]; stop(): Promise<void> };
  const metrics: { event: string; aggregation: Aggregation }[] = [
    { event: 'purchase', aggregation: 'sum' },
    { event: 'purchase', aggregation: 'mean' },
    { event: 'purchase', aggregation: 'count' },
  ];

  beforeAll(async () => {
    worker = await startTestWorker();
    producer = await trackingProducer(worker.config);
    tenant = await setupTenant(worker.client);
    send = commandSender(worker.client, tenant.environment, tenant.admin);
    dlq = await collectTopic(worker.config, worker.config.TRACKING_DLQ_TOPIC);
  });

  afterAll(async () => {
    await dlq?.stop();
    await producer?.disconnect();
    await worker?.stop();
  });

  it('stores and counts in-range values, rejects the others with the contract reason, and computes results past stored extremes', async () => {
    const metricIds: number[] = [];
    for (const m of metrics) metricIds.push(await createMetric(send, { name: `${m.aggregation} of purchases`, aggregation: m.aggregation, definition: { version: 1, event: m.event } }));
    const created = await send('experiment.create', {
      featureId: tenant.featureId,
      name: 'Hostile values',
      hypothesis: 'Extreme values do not break results',
      metrics: metricIds.map((metricId) => ({ metricId, expectedDirection: 'increase' })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const experimentId = (created.body as { id: number }).id;
    const started = await send('experiment.start', { id: experimentId });
    expect(started.status).toBe(200);
    const S = new Date((started.body as { startedAt: string }).startedAt);
    const at = (ms: number) => new Date(S.getTime() + ms);
    const feature = `checkout_button_${tenant.featureId}`;

    // What counts: exposures, then in-range purchases (1e12 and -1e12 exactly) and one whose value is a text.
    const counted: TrackingInput[] = [
      ...['c0', 'c1', 'c2'].map((identifier, i) => ({ event: '$flag_exposure', identifier, feature, value: 'control', at: at(100 + i) })),
      ...['t0', 't1', 't2'].map((identifier, i) => ({ event: '$flag_exposure', identifier, feature, value: 'variant_a', at: at(110 + i) })),
      { event: 'purchase', identifier: 'c0', value: 1e12, at: at(200) },
      { event: 'purchase', identifier: 'c0', value: 5, at: at(201) },
      { event: 'purchase', identifier: 't2', value: -1e12, at: at(202) },
      // A numeric string is a text value, as a variant key is: it counts as an event, never as a number.
      { event: 'purchase', identifier: 't1', value: '1e400', at: at(203) },
    ];
    const json = (e: TrackingInput, valueLiteral = JSON.stringify(e.value)) =>
      `{"environment":${JSON.stringify(tenant.environment)},"event":${JSON.stringify(e.event)},"identifier":${JSON.stringify(e.identifier)},` +
      `${e.feature ? `"feature":${JSON.stringify(e.feature)},` : ''}"value":${valueLiteral},"timestamp":${JSON.stringify(e.at.toISOString())}}`;
    // Out of range, written as a sender would: 1e400 is valid JSON and parses to Infinity.
    const rejected = [
      ['c1', '1000000000001'],
      ['c2', '1e200'],
      ['c2', '-1e200'],
      ['t0', '1e400'],
      ['t0', '-1e400'],
    ].map(([identifier, literal], i) => json({ event: 'purchase', identifier: identifier!, at: at(300 + i) }, literal));
    const values = [...counted.map((e) => json(e)), ...rejected];
    await producer.send({ topic: worker.config.TRACKING_TOPIC, acks: -1, messages: values.map((value) => ({ key: tenant.environment, value })) });

    await waitForStored(worker.knex, tenant.environment, counted.length);
    await eventually('the rejects in the tracking DLQ', async () => (dlq.messages.length >= rejected.length ? true : undefined));
    expect(dlq.messages.map((m) => [m.value?.toString('utf8'), m.headers['x-dlq-reason'], m.headers['x-original-topic']])).toEqual(
      rejected.map((value) => [value, OUT_OF_RANGE, worker.config.TRACKING_TOPIC]),
    );
    expect(await messageCount(worker.config, worker.config.DLQ_TOPIC)).toBe(0);
    const stored = await worker.knex('tracking_events').where({ environment_id: await environmentId(), event: 'purchase' }).orderBy('occurred_at').select('identifier', 'value_num', 'value_text');
    expect(stored).toEqual([
      { identifier: 'c0', value_num: 1e12, value_text: null },
      { identifier: 'c0', value_num: 5, value_text: null },
      { identifier: 't2', value_num: -1e12, value_text: null },
      { identifier: 't1', value_num: null, value_text: '1e400' },
    ]);

    // Values an older version stored unchecked: each would overflow a sum of squares, or poison it (NaN).
    await new PartitionManager(worker.knex).ensure([dayStart(at(400))]);
    for (const [identifier, value] of [['c1', 'Infinity'], ['c2', '-Infinity'], ['t0', '1e200'], ['t1', '-1e200'], ['t2', 'NaN'], ['c2', '1e308']] as const) {
      await worker.knex.raw(
        `insert into tracking_events (environment_id, occurred_at, identity_key, value_num, event, identifier)
         values (?, ?, hashtextextended(?, 0), ?::float8, 'purchase', ?)`,
        [await environmentId(), at(400).toISOString(), identifier, value, identifier],
      );
    }
    while (Date.now() < S.getTime() + 1000) await new Promise((resolve) => setTimeout(resolve, 100));

    const refresh = await send('experiment.results.refresh', { experimentId });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(202);
    const requestedAt = (refresh.body as { refreshRequestedAt: string }).refreshRequestedAt;
    const computed = await waitForResultsEvent(worker.client, 'experiment.results.computed', experimentId, requestedAt);
    const results = (computed.data as { lastErrorAt: string | null; payload: { exposures: Record<string, number>; metrics: { variants: Record<string, { n: number; sum: number; sumSquares: number }> }[] } });
    expect(results.lastErrorAt).toBeNull();
    expect(results.payload.exposures).toEqual({ control: 3, variant_a: 3 });
    // The stored extremes are left out entirely, as ingest now rejects such events.
    const reference = referenceResults(counted, { feature, exposureEvent: '$flag_exposure', variants: ['control', 'variant_a'], from: S, to: new Date(), lookbackDays: 14 }, metrics);
    results.payload.metrics.forEach((metric, k) => {
      for (const variant of ['control', 'variant_a']) {
        const want = reference.metrics[k]![variant]!;
        const got = metric.variants[variant]!;
        expect(got.n).toBe(want.n);
        expectRelativelyClose(got.sum, want.sum);
        expectRelativelyClose(got.sumSquares, want.sumSquares);
      }
    });
    expect(results.payload.metrics[0]!.variants.control).toMatchObject({ sum: 1e12 + 5 });

    // The next message works.
    await producer.send({ topic: worker.config.TRACKING_TOPIC, acks: -1, messages: [{ key: tenant.environment, value: json({ event: 'purchase', identifier: 'c0', value: 1, at: at(500) }) }] });
    await waitForStored(worker.knex, tenant.environment, counted.length + 6 + 1);
    expect(dlq.messages).toHaveLength(rejected.length);
  });

  async function environmentId(): Promise<number> {
    return Number((await worker.knex('environments').where('key', tenant.environment).first('id')).id);
  }
});

/** Float sums at 1e24 differ in the last bits by the order of addition (the query runs in parts). */
function expectRelativelyClose(got: number, want: number): void {
  expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * 1e-12 + 1e-9);
}
