import type { Knex } from 'knex';
import type { ExperimentInput, MetricInput, VariantAggregates } from '../domain/statistics/index.js';
import type { ExperimentStatus } from '../domain/experiment-status.js';
import type { MetricAggregation, MetricDirection } from '../contracts/metrics.js';
import type { ExpectedDirection } from '../contracts/experiments.js';
import { textArray } from './tracking-store.js';
import { eventBindings, metricColumns, slotAggregates, valueBound } from './results-sql.js';

// The results query (DOMAIN.md "Results"): from tracking_events to the per-variant aggregates the statistics
// take, in one set-based statement, whatever the number of identities.

/** What results are computed for: the experiment with its feature, environment and attached metrics. */
export interface ResultsSubject {
  experimentId: number;
  environmentId: number;
  environmentKey: string;
  status: ExperimentStatus;
  startedAt: Date | null;
  endedAt: Date | null;
  exposureEvent: string;
  controlVariant: string;
  featureName: string;
  /** The feature's variant allocations (percent), control excluded. */
  variantAllocations: Record<string, number>;
  metrics: SubjectMetric[];
}

export interface SubjectMetric {
  attachmentId: number;
  metricId: number;
  aggregation: MetricAggregation;
  direction: MetricDirection;
  expectedDirection: ExpectedDirection;
  /** definition.event: the tracking event the metric counts. */
  event: string;
}

/** The live (not deleted) experiment `experimentId` with what its results need, or null. */
export async function loadResultsSubject(db: Knex | Knex.Transaction, experimentId: number): Promise<ResultsSubject | null> {
  const row = await db('experiments as x')
    .join('features as f', 'f.id', 'x.feature_id')
    .join('environments as env', 'env.id', 'x.environment_id')
    .where('x.id', experimentId)
    .whereNull('x.deleted_at')
    .first(
      'x.id',
      'x.environment_id',
      'env.key as environment_key',
      'x.status',
      'x.started_at',
      'x.ended_at',
      'x.exposure_event',
      'x.control_variant',
      'f.name as feature_name',
      'f.variants',
    );
  if (!row) return null;
  const attachments = await db('experiment_metrics as a')
    .join('metrics as m', 'm.id', 'a.metric_id')
    .where('a.experiment_id', experimentId)
    .orderBy('a.id')
    .select('a.id', 'a.metric_id', 'a.expected_direction', 'm.aggregation', 'm.direction', db.raw(`m.definition ->> 'event' as event`));
  const variants = (row.variants ?? []) as { key: string; percentageAllocation: number }[];
  return {
    experimentId: Number(row.id),
    environmentId: Number(row.environment_id),
    environmentKey: row.environment_key,
    status: row.status,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    exposureEvent: row.exposure_event,
    controlVariant: row.control_variant,
    featureName: row.feature_name,
    variantAllocations: Object.fromEntries(variants.filter((v) => v.key !== row.control_variant).map((v) => [v.key, Number(v.percentageAllocation)])),
    metrics: attachments
      .filter((a: { event: string | null }) => typeof a.event === 'string' && a.event !== '')
      .map((a: Record<string, unknown>) => ({
        attachmentId: Number(a.id),
        metricId: Number(a.metric_id),
        aggregation: a.aggregation as MetricAggregation,
        direction: a.direction as MetricDirection,
        expectedDirection: a.expected_direction as ExpectedDirection,
        event: a.event as string,
      })),
  };
}

export interface ResultsWindow {
  from: Date;
  to: Date;
}

/** The variants an exposure may name: control first, then the feature's variants. */
export const variantKeys = (subject: Pick<ResultsSubject, 'controlVariant' | 'variantAllocations'>): string[] => [
  ...new Set([subject.controlVariant, ...Object.keys(subject.variantAllocations)]),
];

/** How many connections share one results query, each taking the identities of one hash part (see below). */
export const RESULTS_QUERY_PARTS = 2;

/**
 * The results query, generated for the experiment's metrics (names are bound, never spliced into the text), for
 * the identities of hash part `:part` of `:parts` (abs(identity_key mod parts) = part):
 *
 *  exposed      — per identity (identity_key, see the migration) over the exposure events of the feature in the
 *                 window whose value names one of the experiment's variants: its variant (index into the variant
 *                 list, 1-based) and first exposure. Identities seen in more than one variant are left out
 *                 (min <> max), and so would two identifiers sharing a 64-bit key (min(identifier) <> max).
 *  per_identity — every exposed identity left-joined to its metric events from (first exposure − lookback) to the
 *                 window's end, one row per identity with, for each distinct metric event j, the in-window part
 *                 at/after the first exposure (c_j count, s_j Σ value, v_j number of values) and the
 *                 pre-exposure part before it (pc_j, ps_j, pv_j; CUPED). Metrics on the same event share them.
 *                 An identity without events gets zeros, and so counts as 0 for every metric. Events whose
 *                 value is beyond ±TRACKING_VALUE_MAX (stored before that bound, or NaN) are left out as ingest now
 *                 rejects them: with the bound no sum or square can overflow float8, so one event's value
 *                 never fails the results.
 *  the answer   — one row per variant: n (exposed identities), and per metric k: Σy, Σy², identities with
 *                 pre-exposure data, Σx, Σx², Σxy, with y (x) the identity's value by aggregation: occurrence 1/0,
 *                 count, sum, mean (0 without values). All of it adds up across parts.
 */
export function buildResultsQuery(
  subject: ResultsSubject,
  window: ResultsWindow,
  lookbackDays: number,
  parts = 1,
  options: { identityKeys?: string } = {},
): { sql: string; bindings: Record<string, string | number> } {
  const events = [...new Set(subject.metrics.map((m) => m.event))];
  const bindings: Record<string, string | number> = {
    env: subject.environmentId,
    exposureEvent: subject.exposureEvent,
    feature: subject.featureName,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    variants: textArray(variantKeys(subject)),
    events: textArray(events),
    lookback: lookbackDays,
    parts,
    part: 0,
    ...eventBindings(events),
  };
  // Only these identities (a bigint[] literal): the state's computation takes the few identities it cannot
  // answer from here (state-query.ts).
  if (options.identityKeys !== undefined) bindings.identityKeys = options.identityKeys;
  const only = (column: string) =>
    (parts > 1 ? `\n     and abs(mod(${column}, cast(:parts as bigint))) = :part` : '') +
    (options.identityKeys !== undefined ? `\n     and ${column} = any(cast(:identityKeys as bigint[]))` : '');
  const needsValues = new Set(subject.metrics.filter((m) => m.aggregation === 'sum' || m.aggregation === 'mean').map((m) => m.event));
  const perEvent = slotAggregates(events, 'x.first_at', needsValues);
  const { values: metricValues, sums } = metricColumns(subject.metrics, (k) => {
    const j = events.indexOf(subject.metrics[k]!.event);
    return (field) => `${field}${j}`;
  });
  const eventJoin = events.length
    ? `left join tracking_events e
        on e.identity_key = x.identity_key
       and e.environment_id = :env
       and e.event = any(cast(:events as text[]))
       and e.occurred_at >= cast(:from as timestamptz) - make_interval(days => :lookback)
       and e.occurred_at <= cast(:to as timestamptz)
       and e.occurred_at >= x.pre_from
       and ${valueBound('e')}${only('e.identity_key').replaceAll('\n     ', '\n       ')}`
    : '';
  const sql = `
with exposed as materialized (
  select identity_key,
         array_position(cast(:variants as text[]), min(value_text collate "C")) as vi,
         min(occurred_at) as first_at,
         min(occurred_at) - make_interval(days => :lookback) as pre_from
    from tracking_events
   where environment_id = :env and event = :exposureEvent and feature = :feature
     and occurred_at >= cast(:from as timestamptz) and occurred_at <= cast(:to as timestamptz)
     and value_text = any(cast(:variants as text[]))${only('identity_key')}
   group by identity_key
  having min(value_text collate "C") = max(value_text collate "C")
     and min(identifier collate "C") = max(identifier collate "C")
),
per_identity as (
  select min(x.vi) as vi${perEvent.map((c) => `,\n         ${c}`).join('')}
    from exposed x
    ${eventJoin}
   group by x.identity_key
),
metric_values as (
  select vi${metricValues.map((c) => `,\n         ${c}`).join('')}
    from per_identity
)
select vi, count(*) as n${sums.map((c) => `,\n       ${c}`).join('')}
  from metric_values
 group by vi
`;
  return { sql, bindings };
}

/**
 * Settings for the results query's transactions. At a million identities the work is joining ~10 million metric
 * events to the exposed identities and aggregating them per identity. Hashing does that with random memory
 * access into tables of a million entries, which on the benchmark machine (a 2-core VM) costs ~1 µs per event:
 * about 40 s in all. Sorting both sides by identity_key and merge-joining streams instead, and the per-identity
 * aggregation then needs no hash table at all: about 20 s in one part, 15 s in two (bench/results.ts). The planner
 * cannot be left to choose: the exposure filter's columns are correlated (only exposures carry a feature) and
 * HAVING min = max is opaque to it, so it estimates `exposed` at a handful of rows and everything above it
 * accordingly. Hash joins and nested loops are therefore switched off for this one query, JIT too (4 s of
 * compilation at this size, for nothing), and work_mem raised for the sorts.
 */
export const RESULTS_SESSION_SETTINGS =
  "set local work_mem = '256MB'; set local enable_hashjoin = off; set local enable_nestloop = off; set local jit = off";

/**
 * Runs the results query for `subject` over `window` and answers the statistics' input. The identities are split
 * in `parts` by a hash of their identity, and the parts run at the same time on their own connections (a database
 * query runs on one core; the sort and merge of a million identities' events is most of the work), all reading one
 * snapshot, exported by a leading transaction: together they see the tracking events as of one instant.
 */
export async function queryResultsInput(
  knex: Knex,
  subject: ResultsSubject,
  window: ResultsWindow,
  lookbackDays: number,
  options: { parts?: number; statementTimeoutMs?: number } = {},
): Promise<ExperimentInput> {
  const parts = Math.max(1, Math.floor(options.parts ?? RESULTS_QUERY_PARTS));
  const { sql, bindings } = buildResultsQuery(subject, window, lookbackDays, parts);
  const readOnly = { isolationLevel: 'repeatable read', readOnly: true } as const;
  const runPart = async (trx: Knex.Transaction, part: number) => {
    await trx.raw(RESULTS_SESSION_SETTINGS);
    if (options.statementTimeoutMs) await trx.raw(`set local statement_timeout = ${Math.floor(options.statementTimeoutMs)}`);
    const { rows } = await trx.raw<{ rows: VariantRow[] }>(sql, { ...bindings, part });
    return rows;
  };
  const rows =
    parts === 1
      ? await knex.transaction((trx) => runPart(trx, 0), readOnly)
      : await knex.transaction(async (lead) => {
          const { rows: exported } = await lead.raw<{ rows: { snapshot: string }[] }>('select pg_export_snapshot() as snapshot');
          const snapshot = exported[0]!.snapshot;
          if (!/^[0-9A-F-]+$/i.test(snapshot)) throw new Error(`unexpected snapshot id ${snapshot}`);
          const perPart = await Promise.all(
            Array.from({ length: parts }, (_, part) =>
              knex.transaction(async (trx) => {
                await trx.raw(`set transaction snapshot '${snapshot}'`);
                return runPart(trx, part);
              }, readOnly),
            ),
          );
          return perPart.flat();
        }, readOnly);
  return assembleInput(subject, rows);
}

/** One row of the results query: a variant (index into variantKeys, 1-based) and its sums per metric k. */
export type VariantRow = { vi: number } & Record<string, number | string | null>;

/**
 * The statistics' input from the query's rows (several per variant when the query ran in parts: they add up).
 * Every variant of the experiment appears, with zeros if unseen.
 */
export function assembleInput(subject: ResultsSubject, rows: VariantRow[]): ExperimentInput {
  const variants = variantKeys(subject);
  const totals = new Map<string, Map<string, number>>(variants.map((v) => [v, new Map()]));
  for (const row of rows) {
    const key = variants[Number(row.vi) - 1];
    if (key === undefined) continue;
    const total = totals.get(key)!;
    for (const [column, value] of Object.entries(row)) {
      if (column === 'vi') continue;
      total.set(column, (total.get(column) ?? 0) + Number(value ?? 0));
    }
  }
  const num = (variant: string, column: string) => totals.get(variant)!.get(column) ?? 0;
  const exposures: Record<string, number> = Object.fromEntries(variants.map((v) => [v, num(v, 'n')]));
  const metrics: MetricInput[] = subject.metrics.map((metric, k) => {
    const perVariant: Record<string, VariantAggregates> = {};
    for (const variant of variants) {
      perVariant[variant] = {
        n: exposures[variant]!,
        sum: num(variant, `sum_${k}`),
        sumSquares: num(variant, `sumsq_${k}`),
        pre: { n: num(variant, `pren_${k}`), sumX: num(variant, `sumx_${k}`), sumX2: num(variant, `sumx2_${k}`), sumXY: num(variant, `sumxy_${k}`) },
      };
    }
    return {
      metricId: metric.metricId,
      attachmentId: metric.attachmentId,
      aggregation: metric.aggregation,
      direction: metric.direction,
      expectedDirection: metric.expectedDirection,
      variants: perVariant,
    };
  });
  return { controlVariant: subject.controlVariant, variantAllocations: subject.variantAllocations, exposures, metrics };
}
