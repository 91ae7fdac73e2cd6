import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupTenant, startTestWorker, type Tenant, type TestWorker } from '../harness.js';
import { loadResultsSubject, queryResultsInput } from '../../../src/results/results-query.js';
import { adjust, referenceInference, type Settings } from './reference-statistics.js';
import { expctl } from '../cli/expctl-process.js';
import { LOOKBACK_DAYS, SETTINGS, WORKER_SETTINGS, dataset, expectClose, expectDifferent, ms } from './results-dataset.js';
import {
  commandSender,
  createMetric,
  flagsmithLift,
  produceTracking,
  referenceResults,
  trackingProducer,
  uniqueName,
  waitForResultsEvent,
  waitForStored,
  type Aggregation,
  type TrackingInput,
} from './helpers.js';

// Results end to end: tracking events through Kafka into Postgres, experiment.results.refresh, the compute job,
// the `experiment.results.computed` event and experiment.results.get, against numbers worked out in the test.

interface Payload {
  srmPValue: number | null;
  exposures: Record<string, number>;
  window: { from: string; to: string };
  metrics: {
    metricId: number;
    attachmentId: number;
    aggregation: string;
    direction: string;
    expectedDirection: string;
    guardrail: boolean;
    variants: Record<string, { n: number; sum: number; sumSquares: number }>;
    inference: Record<string, null | Inference>;
  }[];
}
interface Inference {
  lift: number;
  ciLow: number;
  ciHigh: number;
  chanceToWin: number;
  bayesian: { chanceToWin: number; ciLow: number; ciHigh: number; riskControl: number; riskTreatment: number };
  frequentist: { pValue: number; ciLow: number | null; ciHigh: number | null; df: number; pValueAdjusted: number };
  sequential: { pValue: number; ciLow: number; ciHigh: number };
  cuped: null | { theta: number; lift: number; ciLow: number | null; ciHigh: number | null; pValue: number };
}
interface ResultsBody {
  results: null | { asOf: string | null; lastErrorAt: string | null; refreshRequestedAt: string | null; isFinal: boolean; payload: Payload | null };
}

describe('experiment results', () => {
  let worker: TestWorker;
  let producer: Producer;
  let tenant: Tenant;
  let send: ReturnType<typeof commandSender>;
  let experimentId: number;
  let startedAt: Date;
  let events: TrackingInput[];
  let featureName: string;
  const metricSpecs: { name: string; event: string; aggregation: Aggregation; direction: string; expectedDirection: string }[] = [
    { name: 'Conversion', event: 'purchase', aggregation: 'occurrence', direction: 'up', expectedDirection: 'increase' },
    { name: 'Revenue', event: 'purchase', aggregation: 'sum', direction: 'up', expectedDirection: 'increase' },
    { name: 'Order value', event: 'purchase', aggregation: 'mean', direction: 'up', expectedDirection: 'increase' },
    { name: 'Page views', event: 'page_view', aggregation: 'count', direction: 'down', expectedDirection: 'not_increase' },
  ];
  const metricIds: number[] = [];
  let firstPayload: Payload;

  beforeAll(async () => {
    worker = await startTestWorker(WORKER_SETTINGS);
    producer = await trackingProducer(worker.config);
    tenant = await setupTenant(worker.client);
    send = commandSender(worker.client, tenant.environment, tenant.admin);
    featureName = `checkout_button_${tenant.featureId}`;
    for (const spec of metricSpecs) {
      metricIds.push(await createMetric(send, { name: spec.name, aggregation: spec.aggregation, direction: spec.direction, definition: { version: 1, event: spec.event } }));
    }
    const created = await send('experiment.create', {
      featureId: tenant.featureId,
      name: 'Checkout button',
      hypothesis: 'A bolder button sells more',
      metrics: metricIds.map((metricId, i) => ({ metricId, expectedDirection: metricSpecs[i]!.expectedDirection })),
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    experimentId = (created.body as { id: number }).id;
  });

  afterAll(async () => {
    await producer?.disconnect();
    await worker?.stop();
  });

  it('answers 404 for an unknown experiment and no results before any computation', async () => {
    expect((await send('experiment.results.refresh', { experimentId: 999_999_999 })).status).toBe(404);
    const get404 = await send('experiment.results.get', { experimentId: 999_999_999 });
    expect(get404.status).toBe(404);
    expect(get404.body).toEqual({ detail: 'Not found.' });
    const get = await send('experiment.results.get', { experimentId });
    expect(get.status).toBe(200);
    expect(get.body).toEqual({ results: null });
  });

  it('refuses a refresh before the experiment starts', async () => {
    const reply = await send('experiment.results.refresh', { experimentId });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ detail: 'Cannot refresh results before the experiment starts.' });
  });

  it('computes exposures and per-variant aggregates from tracking events', async () => {
    const start = await send('experiment.start', { id: experimentId });
    expect(start.status).toBe(200);
    startedAt = new Date((start.body as { startedAt: string }).startedAt);
    events = dataset(startedAt, featureName);
    await produceTracking(producer, worker.config.TRACKING_TOPIC, tenant.environment, events);
    await waitForStored(worker.knex, tenant.environment, events.length);
    // Every in-window event lies within 1.5 s of the start; the window must reach past them.
    while (Date.now() < startedAt.getTime() + 2000) await new Promise((resolve) => setTimeout(resolve, 100));

    const refresh = await send('experiment.results.refresh', { experimentId });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(202);
    const requestedAt = (refresh.body as { refreshRequestedAt: string }).refreshRequestedAt;
    const computed = await waitForResultsEvent(worker.client, 'experiment.results.computed', experimentId, requestedAt);
    const computeTimes = (await worker.app.metrics.resultsCompute.get()).values;
    expect(computeTimes.find((v) => v.metricName === 'expw_results_compute_seconds_count' && v.labels.outcome === 'computed')?.value).toBeGreaterThanOrEqual(1);
    expect(computed.environment).toBe(tenant.environment);

    const get = await send('experiment.results.get', { experimentId });
    expect(get.status).toBe(200);
    const results = (get.body as ResultsBody).results!;
    expect(results).toMatchObject({ lastErrorAt: null, refreshRequestedAt: requestedAt, isFinal: false });
    expect(computed.data).toEqual({ experimentId, ...results });
    const payload = results.payload!;
    firstPayload = payload;
    expect(payload.window.from).toBe(startedAt.toISOString());
    expect(payload.window.to).toBe(results.asOf);

    // Worked out by hand: 120 control identities plus early-again; 110 in variant_a; the rest are left out.
    expect(payload.exposures).toEqual({ control: 121, variant_a: 110 });
    const reference = referenceResults(
      events,
      { feature: featureName, exposureEvent: '$flag_exposure', variants: ['control', 'variant_a'], from: startedAt, to: new Date(payload.window.to), lookbackDays: LOOKBACK_DAYS },
      metricSpecs,
    );
    expect(reference.exposures).toEqual(payload.exposures);

    // Conversion (occurrence): control i%4==0 → 30, plus early-again → 31; variant i%3==0 → 37 (i%9==0 ⊂ i%3==0).
    const conversion = payload.metrics[0]!;
    expect(conversion).toMatchObject({ metricId: metricIds[0], aggregation: 'occurrence', direction: 'up', expectedDirection: 'increase', guardrail: false });
    expect(conversion.variants).toEqual({ control: { n: 121, sum: 31, sumSquares: 31 }, variant_a: { n: 110, sum: 37, sumSquares: 37 } });

    payload.metrics.forEach((metric, i) => {
      for (const variant of ['control', 'variant_a']) {
        const want = reference.metrics[i]![variant]!;
        const got = metric.variants[variant]!;
        expect(got.n).toBe(want.n);
        expect(got.sum).toBeCloseTo(want.sum, 9);
        expect(got.sumSquares).toBeCloseTo(want.sumSquares, 9);
      }
    });
    expect(payload.metrics[3]).toMatchObject({ aggregation: 'count', direction: 'down', expectedDirection: 'not_increase', guardrail: true });

    // Flagsmith's lift and interval (DOMAIN.md) for every metric with inference.
    for (const metric of payload.metrics) {
      const inference = metric.inference.variant_a!;
      expect(inference).not.toBeNull();
      const want = flagsmithLift(metric.variants.control!, metric.variants.variant_a!);
      expect(inference.lift).toBeCloseTo(want.lift, 9);
      expect(inference.ciLow).toBeCloseTo(want.ciLow, 9);
      expect(inference.ciHigh).toBeCloseTo(want.ciHigh, 9);
    }
    // Purchases before exposure exist: the purchase metrics get a CUPED block; page views have none before.
    expect(payload.metrics[1]!.inference.variant_a!.cuped).not.toBeNull();
    expect(payload.metrics[3]!.inference.variant_a!.cuped).toBeNull();
    expect(payload.srmPValue).toBeGreaterThan(0.001);
  });

  it('gives every block the numbers worked out independently, each non-default setting taking effect', () => {
    const to = new Date(firstPayload.window.to);
    const referenceAt = (lookbackDays: number) =>
      referenceResults(events, { feature: featureName, exposureEvent: '$flag_exposure', variants: ['control', 'variant_a'], from: startedAt, to, lookbackDays }, metricSpecs);
    const expected = (settings: Settings, lookbackDays: number) => {
      const reference = referenceAt(lookbackDays);
      const blocks = metricSpecs.map((spec, i) => referenceInference(spec, reference.metrics[i]!.control!, reference.metrics[i]!.variant_a!, settings));
      // The family: the goals' tests (the guardrail, page views, keeps its own p-value).
      const family = metricSpecs.flatMap((spec, i) => (spec.expectedDirection.startsWith('not_') ? [] : [i]));
      const adjusted = adjust(family.map((i) => blocks[i]!.frequentist.pValue), settings.correction);
      return blocks.map((block, i) => ({ ...block, pValueAdjusted: family.includes(i) ? adjusted[family.indexOf(i)]! : block.frequentist.pValue }));
    };
    const want = expected(SETTINGS, LOOKBACK_DAYS);
    firstPayload.metrics.forEach((metric, i) => {
      const got = metric.inference.variant_a!;
      const w = want[i]!;
      const at = (field: string) => `${metricSpecs[i]!.name} ${field}`;
      for (const field of ['lift', 'ciLow', 'ciHigh', 'chanceToWin'] as const) expectClose(got[field], w[field], at(field));
      for (const field of ['chanceToWin', 'ciLow', 'ciHigh', 'riskControl', 'riskTreatment'] as const) expectClose(got.bayesian[field], w.bayesian[field], at(`bayesian.${field}`));
      for (const field of ['pValue', 'ciLow', 'ciHigh', 'df'] as const) expectClose(got.frequentist[field], w.frequentist[field], at(`frequentist.${field}`));
      expectClose(got.frequentist.pValueAdjusted, w.pValueAdjusted, at('frequentist.pValueAdjusted'));
      for (const field of ['pValue', 'ciLow', 'ciHigh'] as const) expectClose(got.sequential[field], w.sequential[field], at(`sequential.${field}`));
      if (w.cuped === null) expect(got.cuped).toBeNull();
      else for (const field of ['theta', 'lift', 'ciLow', 'ciHigh', 'pValue'] as const) expectClose(got.cuped![field], w.cuped[field], at(`cuped.${field}`));
    });
    // The guardrail (page views, not_increase) is one-sided: no upper end.
    expect(firstPayload.metrics[3]!.inference.variant_a!.frequentist.ciHigh).toBeNull();

    // Each setting at its default gives other numbers for what it governs, and leaves Flagsmith's 95 % alone.
    const revenue = firstPayload.metrics[1]!.inference.variant_a!;
    const atDefaultAlpha = expected({ ...SETTINGS, alpha: 0.05 }, LOOKBACK_DAYS)[1]!;
    expectDifferent(revenue.frequentist.ciLow, atDefaultAlpha.frequentist.ciLow, 'RESULTS_ALPHA: frequentist interval');
    expectDifferent(revenue.bayesian.ciLow, atDefaultAlpha.bayesian.ciLow, 'RESULTS_ALPHA: Bayesian interval');
    expectClose(revenue.ciLow, atDefaultAlpha.ciLow, "RESULTS_ALPHA leaves Flagsmith's interval");
    const holm = expected({ ...SETTINGS, correction: 'holm' }, LOOKBACK_DAYS);
    expect(firstPayload.metrics.some((m, i) => Math.abs(m.inference.variant_a!.frequentist.pValueAdjusted - holm[i]!.pValueAdjusted) > 1e-4), 'RESULTS_CORRECTION').toBe(true);
    expectClose(revenue.frequentist.pValue, holm[1]!.frequentist.pValue, 'RESULTS_CORRECTION leaves the raw p-value');
    const defaultTau = expected({ ...SETTINGS, tau: 5000 }, LOOKBACK_DAYS)[1]!;
    expectDifferent(revenue.sequential.ciLow, defaultTau.sequential.ciLow, 'SEQUENTIAL_TAU: sequential interval');
    const lookback14 = expected(SETTINGS, 14)[1]!;
    expectDifferent(revenue.cuped!.theta, lookback14.cuped!.theta, 'CUPED_LOOKBACK_DAYS: θ');
  });

  it('aggregates the pre-exposure (CUPED) data as the reference does', async () => {
    const subject = (await loadResultsSubject(worker.knex, experimentId))!;
    const to = new Date(firstPayload.window.to);
    const lookback = worker.config.CUPED_LOOKBACK_DAYS;
    expect(lookback).toBe(LOOKBACK_DAYS);
    const input = await queryResultsInput(worker.knex, subject, { from: startedAt, to }, lookback);
    // The same in one part as in two (the worker's default): the parts add up.
    expect(await queryResultsInput(worker.knex, subject, { from: startedAt, to }, lookback, { parts: 1 })).toEqual(input);
    const reference = referenceResults(
      events,
      { feature: featureName, exposureEvent: '$flag_exposure', variants: ['control', 'variant_a'], from: startedAt, to, lookbackDays: lookback },
      metricSpecs,
    );
    expect(input.variantAllocations).toEqual({ variant_a: 50 });
    input.metrics.forEach((metric, i) => {
      for (const variant of ['control', 'variant_a']) {
        const want = reference.metrics[i]![variant]!;
        const got = metric.variants[variant]!;
        expect(got.pre!.n).toBe(want.pre.n);
        expect(got.pre!.sumX).toBeCloseTo(want.pre.sumX, 9);
        expect(got.pre!.sumX2).toBeCloseTo(want.pre.sumX2, 9);
        expect(got.pre!.sumXY).toBeCloseTo(want.pre.sumXY, 9);
      }
    });
    // By hand: control c1, c11, …, c111 bought 7 before exposure (12 identities); variant t2, t9, …, t107 bought 3
    // two days before the start (16 identities).
    expect(input.metrics[1]!.variants.control!.pre).toMatchObject({ n: 12, sumX: 84 });
    expect(input.metrics[1]!.variants.variant_a!.pre).toMatchObject({ n: 16, sumX: 48 });
    // With the default 14 days the purchases 5 days before the start count too: t4, t11, …, t109 (16, 9 each).
    const at14 = await queryResultsInput(worker.knex, subject, { from: startedAt, to }, 14);
    expect(at14.metrics[1]!.variants.variant_a!.pre).toMatchObject({ sumX: 48 + 16 * 9 });
  });

  it('computes from the results state the ingester kept; `expctl results recompute --from-raw` gives the same numbers from the raw events', async () => {
    // The state began with the experiment's first start and was kept by the ingester: ready, one row per identity.
    const state = await worker.knex('results_states').where('experiment_id', experimentId).first('status');
    expect(state?.status).toBe('ready');
    const rows = await worker.knex('results_identities').where('experiment_id', experimentId).count({ n: '*' }).first();
    expect(Number(rows?.n)).toBeGreaterThanOrEqual(firstPayload.exposures.control! + firstPayload.exposures.variant_a!);
    const fromState = await expctl(['results', 'recompute', String(experimentId), '--json'], worker.env);
    expect(fromState.code, fromState.stderr).toBe(0);
    expect((JSON.parse(fromState.stdout) as { source: string }).source).toBe('state');

    const run = await expctl(['results', 'recompute', String(experimentId), '--from-raw', '--json'], worker.env);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { source: string; results: { payload: Payload } };
    expect(out.source).toBe('raw');
    const raw = out.results.payload;
    expect(raw.exposures).toEqual(firstPayload.exposures);
    raw.metrics.forEach((metric, i) => {
      for (const variant of ['control', 'variant_a']) {
        const want = firstPayload.metrics[i]!.variants[variant]!;
        expect(metric.variants[variant]!.n).toBe(want.n);
        expect(metric.variants[variant]!.sum).toBeCloseTo(want.sum, 9);
        expect(metric.variants[variant]!.sumSquares).toBeCloseTo(want.sumSquares, 9);
      }
      expect(metric.inference.variant_a!.frequentist.pValue).toBeCloseTo(firstPayload.metrics[i]!.inference.variant_a!.frequentist.pValue, 9);
    });
    const missing = await expctl(['results', 'recompute', '999999999'], worker.env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('experiment not found');
  });

  it('makes results final after completion, then refuses refreshes', async () => {
    const complete = await send('experiment.complete', { id: experimentId });
    expect(complete.status).toBe(200);
    const endedAt = (complete.body as { endedAt: string }).endedAt;
    const refresh = await send('experiment.results.refresh', { experimentId });
    expect(refresh.status, JSON.stringify(refresh.body)).toBe(202);
    const requestedAt = (refresh.body as { refreshRequestedAt: string }).refreshRequestedAt;
    await waitForResultsEvent(worker.client, 'experiment.results.computed', experimentId, requestedAt);
    const results = ((await send('experiment.results.get', { experimentId })).body as ResultsBody).results!;
    expect(results.isFinal).toBe(true);
    expect(results.payload!.window).toEqual({ from: startedAt.toISOString(), to: endedAt });
    expect(results.payload!.exposures).toEqual(firstPayload.exposures);

    const again = await send('experiment.results.refresh', { experimentId });
    expect(again.status).toBe(400);
    expect(again.body).toEqual({ detail: 'Results are final for this completed experiment.' });
  });

  it('keeps the last good payload when a computation fails, and records the failure', async () => {
    // A second experiment (own tenant) whose computation fails for real. One event's value can no longer do that
    // (CONTRACT.md "Tracking values"; test/integration/hostile/tracking-values.test.ts), so the database refuses to
    // store newer results of this experiment: a constraint, not valid for the rows already there.
    const other = await setupTenant(worker.client);
    const sendOther = commandSender(worker.client, other.environment, other.admin);
    const metricId = await createMetric(sendOther, { name: 'Revenue', aggregation: 'sum', definition: { version: 1, event: 'purchase' } });
    const created = await sendOther('experiment.create', { featureId: other.featureId, name: 'Overflow', hypothesis: 'h', metrics: [{ metricId, expectedDirection: 'increase' }] });
    const id = (created.body as { id: number }).id;
    const started = new Date(((await sendOther('experiment.start', { id })).body as { startedAt: string }).startedAt);
    const feature = `checkout_button_${other.featureId}`;
    await produceTracking(producer, worker.config.TRACKING_TOPIC, other.environment, [
      { event: '$flag_exposure', identifier: 'u1', feature, value: 'control', at: ms(started, 10) },
      { event: 'purchase', identifier: 'u1', value: 10, at: ms(started, 20) },
    ]);
    await waitForStored(worker.knex, other.environment, 2);
    const first = await sendOther('experiment.results.refresh', { experimentId: id });
    expect(first.status).toBe(202);
    await waitForResultsEvent(worker.client, 'experiment.results.computed', id, (first.body as { refreshRequestedAt: string }).refreshRequestedAt);
    const good = ((await sendOther('experiment.results.get', { experimentId: id })).body as ResultsBody).results!;
    expect(good.payload!.metrics[0]!.variants.control).toEqual({ n: 1, sum: 10, sumSquares: 100 });

    const frozen = `results_frozen_${id}`;
    // DDL takes no bind parameters: both values are ours, and go through Number and Date.
    const goodAsOf = new Date(good.asOf!).toISOString();
    await worker.knex.raw(`alter table experiment_results add constraint ?? check (experiment_id <> ${Number(id)} or as_of <= '${goodAsOf}') not valid`, [frozen]);
    let failed: Awaited<ReturnType<typeof waitForResultsEvent>>;
    let secondAt: string;
    try {
      const second = await sendOther('experiment.results.refresh', { experimentId: id });
      expect(second.status).toBe(202);
      secondAt = (second.body as { refreshRequestedAt: string }).refreshRequestedAt;
      failed = await waitForResultsEvent(worker.client, 'experiment.results.failed', id, secondAt);
    } finally {
      await worker.knex.raw('alter table experiment_results drop constraint if exists ??', [frozen]);
    }
    expect(failed.environment).toBe(other.environment);
    expect((failed.data as { error: string }).error).toMatch(new RegExp(`violates check constraint "${frozen}"`));

    const after = ((await sendOther('experiment.results.get', { experimentId: id })).body as ResultsBody).results!;
    expect(after.payload).toEqual(good.payload);
    expect(after.asOf).toBe(good.asOf);
    expect(after.isFinal).toBe(false);
    expect(after.refreshRequestedAt).toBe(secondAt);
    expect(after.lastErrorAt! >= secondAt).toBe(true);
    expect(failed.data).toMatchObject({ experimentId: id, asOf: good.asOf, lastErrorAt: after.lastErrorAt, payload: good.payload });
  });
});

describe('experiment results refresh throttling', () => {
  let worker: TestWorker;

  beforeAll(async () => {
    worker = await startTestWorker({ RESULTS_REFRESH_MIN_INTERVAL_S: '300' });
  });
  afterAll(async () => {
    await worker?.stop();
  });

  it('answers 429 with retryAfter within the minimum interval', async () => {
    const tenant = await setupTenant(worker.client);
    const send = commandSender(worker.client, tenant.environment, tenant.admin);
    const created = await send('experiment.create', { featureId: tenant.featureId, name: uniqueName('throttle'), hypothesis: 'h' });
    const experimentId = (created.body as { id: number }).id;
    expect((await send('experiment.start', { id: experimentId })).status).toBe(200);
    const first = await send('experiment.results.refresh', { experimentId });
    expect(first.status).toBe(202);
    const second = await send('experiment.results.refresh', { experimentId });
    expect(second.status).toBe(429);
    const body = second.body as { detail: string; retryAfter: number };
    expect(body.retryAfter).toBeGreaterThan(290);
    expect(body.retryAfter).toBeLessThanOrEqual(300);
    expect(body.detail).toBe(`Request was throttled. Expected available in ${body.retryAfter} seconds.`);
    // The first request's job still ran: results exist, requested at the first refresh.
    await waitForResultsEvent(worker.client, 'experiment.results.computed', experimentId, (first.body as { refreshRequestedAt: string }).refreshRequestedAt);
    const get = await send('experiment.results.get', { experimentId });
    expect((get.body as ResultsBody).results).toMatchObject({ refreshRequestedAt: (first.body as { refreshRequestedAt: string }).refreshRequestedAt, isFinal: false });
    expect((get.body as ResultsBody).results!.payload!.exposures).toEqual({ control: 0, variant_a: 0 });
  });
});
