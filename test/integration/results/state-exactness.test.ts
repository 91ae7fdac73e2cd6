import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKnex, migrateLatest } from '../../../src/db.js';
import { loadResultsSubject, queryResultsInput } from '../../../src/results/results-query.js';
import { buildResultsState, initResultsState, resolvePending, stateFor, stateOf, stateServes } from '../../../src/results/results-state.js';
import { queryStateInput } from '../../../src/results/state-query.js';
import { insertTrackingBatch } from '../../../src/results/tracking-ingest.js';
import { PartitionManager, dayStart, type TrackingRow } from '../../../src/results/tracking-store.js';
import { testDatabaseUrl } from '../env.js';

// Exactness of the results state (docs/results-computation.md), property-based, against the real database:
// random small datasets with the awkward cases (events before the first exposure in the same day, exposures
// arriving after the identity's events or moving its first exposure earlier, identities exposed to a second
// variant later, a metric attached after the start, mean metrics, the CUPED pre-window and its edges, events
// after the window's end, an experiment completed half-way through the ingest), stored in random batches in a
// random arrival order through the ingester's own function, with the state built at a random point. The state's
// n, Σy, Σy² and CUPED sums per variant and metric must equal those of the direct computation from the raw events.
// Values are multiples of 1/4, so every sum is exact in float8 whatever the order of the additions.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

type Kind = 'exposure' | 'purchase' | 'page_view' | 'signup';
interface GenEvent {
  identity: number;
  kind: Kind;
  variant: 'control' | 'variant_a' | 'bogus';
  otherFeature: boolean;
  value: number | null;
  hour: number;
}

const genEvent = fc
  .record({
    identity: fc.integer({ min: 0, max: 5 }),
    kind: fc.constantFrom<Kind>('exposure', 'exposure', 'purchase', 'purchase', 'page_view', 'signup'),
    // Mostly the identity's own variant; sometimes the other one (it is then out of the results) or an unknown one.
    variantPick: fc.integer({ min: 0, max: 15 }),
    otherFeature: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    value: fc.option(fc.integer({ min: -80, max: 400 }).map((q) => q / 4), { freq: 4 }),
    // Hours from the start: metric events from the lookback before it (up to 3 days) to beyond the window's end;
    // exposures mostly inside the window, some just before it.
    hour: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -80, max: 45 }) }, { weight: 1, arbitrary: fc.integer({ min: 45, max: 70 }) }),
    exposureHour: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: -3, max: 40 }) }, { weight: 1, arbitrary: fc.integer({ min: 40, max: 70 }) }),
  })
  .map(({ exposureHour, variantPick, ...e }): GenEvent => {
    const own = e.identity % 2 === 0 ? 'control' : 'variant_a';
    const variant = variantPick === 0 ? 'bogus' : variantPick === 1 ? (own === 'control' ? 'variant_a' : 'control') : own;
    return { ...e, variant, hour: e.kind === 'exposure' ? exposureHour : e.hour };
  });

const genCase = fc.record({
  events: fc.array(genEvent, { minLength: 6, maxLength: 60 }),
  order: fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
  batches: fc.integer({ min: 1, max: 10 }),
  // Often before the first batch: then the ingester keeps the whole state.
  buildAt: fc.oneof(fc.constant(0), fc.nat()),
  lookbackDays: fc.constantFrom(0, 1, 2, 3),
  // Completed during the ingest (at a random batch, ending at hour `endHour`), or running with the window's end at `endHour`.
  completeAt: fc.option(fc.nat(), { freq: 2 }),
  endHour: fc.integer({ min: 40, max: 60 }),
  lateMetric: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  // Whether the computation derives the pending identities first (it does), or they all come from the raw events;
  // and after which batches earlier computations did (so that later batches meet rows that are not pending).
  resolve: fc.integer({ min: 0, max: 3 }).map((n) => n !== 0),
  resolveAfter: fc.array(fc.nat(), { maxLength: 4 }),
});

describe('results state exactness (property)', () => {
  let knex: Knex;
  const start = new Date(dayStart(Date.now()) - 3 * DAY + 5 * HOUR);
  const at = (hour: number) => new Date(start.getTime() + hour * HOUR);

  beforeAll(async () => {
    knex = createKnex(testDatabaseUrl, 4);
    await migrateLatest(knex);
    const days: number[] = [];
    for (let d = dayStart(at(-90)); d <= dayStart(at(70)); d += DAY) days.push(d);
    await new PartitionManager(knex).ensure(days);
  });
  afterAll(async () => {
    await knex?.destroy();
  });

  /** A tenant with a running experiment on a fresh feature, four metrics attached; answers its ids. */
  async function freshExperiment() {
    const id = Math.floor(Math.random() * 1e9) + 1e9;
    await knex('organisations').insert({ id, name: `exactness ${id}`, experimentation_enabled: true });
    await knex('projects').insert({ id, organisation_id: id, name: 'exactness' });
    const key = `exactness-${randomUUID().slice(0, 8)}`;
    const [env] = await knex('environments').insert({ key, project_id: id, name: 'exactness' }).returning('id');
    const environmentId = Number(env.id);
    const feature = `exactness_${id}`;
    await knex('features').insert({ id, project_id: id, name: feature, type: 'MULTIVARIATE', variants: JSON.stringify([{ key: 'variant_a', percentageAllocation: 50 }]) });
    const metric = async (aggregation: string, event: string) =>
      Number((await knex('metrics').insert({ environment_id: environmentId, name: `${aggregation} ${event}`, aggregation, direction: 'up', definition: JSON.stringify({ version: 1, event }) }).returning('id'))[0].id);
    const metrics = [await metric('occurrence', 'purchase'), await metric('sum', 'purchase'), await metric('mean', 'purchase'), await metric('count', 'page_view')];
    const late = await metric('mean', 'signup');
    const [x] = await knex('experiments').insert({ environment_id: environmentId, feature_id: id, name: 'exactness', status: 'running', started_at: start }).returning('id');
    const experimentId = Number(x.id);
    await knex('experiment_metrics').insert(metrics.map((metric_id) => ({ experiment_id: experimentId, metric_id, expected_direction: 'increase' })));
    return { environmentId, feature, experimentId, late };
  }

  function rowOf(e: GenEvent, environmentId: number, feature: string): TrackingRow {
    const identifier = `u${e.identity}`;
    if (e.kind === 'exposure')
      return { environmentId, event: '$flag_exposure', identifier, feature: e.otherFeature ? `${feature}_other` : feature, valueText: e.variant, valueNum: null, occurredAt: at(e.hour) };
    return { environmentId, event: e.kind, identifier, feature: null, valueText: null, valueNum: e.kind === 'page_view' ? null : e.value, occurredAt: at(e.hour) };
  }

  type Case = typeof genCase extends fc.Arbitrary<infer T> ? T : never;

  async function runCase(c: Case): Promise<void> {
        const { environmentId, feature, experimentId, late } = await freshExperiment();
        // Arrival order: a random permutation of the events.
        const arrival = c.events.map((e, i) => ({ e, k: c.order[i % c.order.length]! * 64 + i })).sort((a, b) => a.k - b.k).map((x) => x.e);
        const rows = arrival.map((e) => rowOf(e, environmentId, feature));
        const size = Math.ceil(rows.length / c.batches);
        const batches = Array.from({ length: Math.ceil(rows.length / size) }, (_, b) => rows.slice(b * size, (b + 1) * size));
        const buildAt = c.buildAt % (batches.length + 1);
        const completeAt = c.completeAt === null ? null : c.completeAt % (batches.length + 1);
        const lateAt = c.lateMetric ? (c.buildAt * 7 + 3) % (batches.length + 1) : null;
        const source = { group: 'exactness', topic: `exactness-${experimentId}`, partition: 0 };
        let offset = 0n;
        const build = async () => {
          const subject = (await loadResultsSubject(knex, experimentId))!;
          expect(await buildResultsState(knex, stateFor(subject, c.lookbackDays))).toBe(true);
        };
        for (let b = 0; b <= batches.length; b++) {
          // At 0 as the first start does it (in the start's transaction), later as a computation does.
          if (b === buildAt && b === 0) await knex.transaction((trx) => initResultsState(trx, experimentId, c.lookbackDays));
          else if (b === buildAt) await build();
          if (b === completeAt) await knex('experiments').where('id', experimentId).update({ status: 'completed', ended_at: at(c.endHour) });
          if (b === lateAt) await knex('experiment_metrics').insert({ experiment_id: experimentId, metric_id: late, expected_direction: 'increase' });
          const batch = batches[b];
          if (!batch) continue;
          const offsets = batch.map(() => offset++);
          await insertTrackingBatch(knex, source, batch, offsets, offsets[offsets.length - 1]!);
          const state = await stateOf(knex, experimentId);
          if (state && c.resolveAfter.some((r) => r % batches.length === b)) await resolvePending(knex, state);
        }
        const subject = (await loadResultsSubject(knex, experimentId))!;
        // A metric attached after the build needs a state of its events: the computation builds it again.
        let state = await stateOf(knex, experimentId);
        if (!(state?.status === 'ready' && stateServes(state, stateFor(subject, c.lookbackDays)))) {
          await build();
          state = await stateOf(knex, experimentId);
        }
        if (c.resolve) expect(await resolvePending(knex, state!)).not.toBeNull();
        const window = { from: start, to: subject.endedAt ?? at(c.endHour) };
        const raw = await queryResultsInput(knex, subject, window, c.lookbackDays, { parts: 1 });
        const fromState = await queryStateInput(knex, subject, window, state!);
        expect(fromState).not.toBeNull();
        expect(fromState!.input).toEqual(raw);
  }

  it('gives the same sums as the raw events, whatever the arrival order, batching and build point', async () => {
    await fc.assert(fc.asyncProperty(genCase, runCase), { numRuns: Number(process.env.EXACTNESS_RUNS ?? 250) });
  });

  it('drops a state it cannot keep and stores the rows all the same', async () => {
    const { environmentId, feature, experimentId } = await freshExperiment();
    await knex.transaction((trx) => initResultsState(trx, experimentId, 1));
    // The state's rows of this experiment are refused for good (a check constraint, not a transient failure).
    const poison = `poison_${experimentId}`;
    await knex.raw(`alter table results_identities add constraint ${poison} check (experiment_id <> ${experimentId}) not valid`);
    try {
      const dropped: number[] = [];
      const rows = [rowOf({ identity: 1, kind: 'exposure', variant: 'control', otherFeature: false, value: null, hour: 3 }, environmentId, feature)];
      const source = { group: 'exactness', topic: `poison-${experimentId}`, partition: 0 };
      expect(await insertTrackingBatch(knex, source, rows, [0n], 0n, (d) => dropped.push(d.experimentId))).toBe(1);
      expect(dropped).toEqual([experimentId]);
      expect(await stateOf(knex, experimentId)).toBeNull();
      expect(Number((await knex('tracking_events').where('environment_id', environmentId).count({ n: '*' }).first())!.n)).toBe(1);
    } finally {
      await knex.raw(`alter table results_identities drop constraint ${poison}`);
    }
  });

  it('follows a first exposure that moves earlier after the identity was derived', async () => {
    const event = (kind: Kind, hour: number): GenEvent => ({ identity: 0, kind, variant: 'control', otherFeature: false, value: 2, hour });
    // Exposed at 10 (derived after the first batch), a purchase at 5 (before F: not counted with no lookback),
    // then an exposure at 2: the purchase is in the window after all.
    await runCase({
      events: [event('exposure', 10), event('purchase', 5), event('exposure', 2)],
      order: [0, 1, 2],
      batches: 3,
      buildAt: 0,
      lookbackDays: 0,
      completeAt: null,
      endHour: 40,
      lateMetric: false,
      resolve: true,
      resolveAfter: [0],
    });
  });
});
