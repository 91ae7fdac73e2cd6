import type { MetricAggregation } from '../contracts/metrics.js';
import { TRACKING_VALUE_MAX } from '../contracts/tracking.js';

// SQL fragments shared by the raw results query (results-query.ts) and the results state (results-state.ts,
// state-ingest.ts, state-query.ts), so that both count an identity's metric events by the same rules
// (DOMAIN.md "Results"). Event names are always bound (:ev0, :ev1, …), never spliced into the text.

/**
 * The six numbers kept per metric event slot j, in this order (results_identities.sums): in-window count
 * (events at or after the first exposure F), pre-exposure count ([F − lookback, F)), in-window Σ value and number
 * of values, pre-exposure Σ value and number of values.
 */
export const SLOT_FIELDS = ['c', 'pc', 's', 'v', 'ps', 'pv'] as const;
export type SlotField = (typeof SLOT_FIELDS)[number];
export const SLOT_WIDTH = SLOT_FIELDS.length;

/** 1-based index of `field` of slot j in results_identities.sums. */
export const sumsIndex = (j: number, field: SlotField): number => j * SLOT_WIDTH + SLOT_FIELDS.indexOf(field) + 1;

/** A metric event counts only with a value within ±TRACKING_VALUE_MAX (or none): see results-query.ts. */
export const valueBound = (alias: string) => `(${alias}.value_num is null or abs(${alias}.value_num) <= ${TRACKING_VALUE_MAX})`;

/**
 * Aggregates over events `e` (alias `e`) for each slot j, relative to the first exposure `firstAt` (an SQL
 * expression), named <field><j>. The value fields are left out for events no sum or mean metric needs unless
 * `allValues`.
 */
export function slotAggregates(events: readonly string[], firstAt: string, needsValues: ReadonlySet<string> | 'all', alias = 'e'): string[] {
  return events.flatMap((event, j) => {
    const post = `${alias}.event = :ev${j} and ${alias}.occurred_at >= ${firstAt}`;
    const pre = `${alias}.event = :ev${j} and ${alias}.occurred_at < ${firstAt}`;
    const withValues = needsValues === 'all' || needsValues.has(event);
    return [
      `count(*) filter (where ${post}) as c${j}`,
      `count(*) filter (where ${pre}) as pc${j}`,
      ...(withValues
        ? [
            `coalesce(sum(${alias}.value_num) filter (where ${post}), 0) as s${j}`,
            `count(${alias}.value_num) filter (where ${post}) as v${j}`,
            `coalesce(sum(${alias}.value_num) filter (where ${pre}), 0) as ps${j}`,
            `count(${alias}.value_num) filter (where ${pre}) as pv${j}`,
          ]
        : []),
    ];
  });
}

/** The slots of slotAggregates(…, 'all') as one float8[] in results_identities.sums order. */
export const sumsArray = (events: readonly string[]) =>
  `array[${events.flatMap((_, j) => SLOT_FIELDS.map((f) => `${f}${j}`)).join(', ')}]::float8[]`;

/** Bindings :ev0, :ev1, … of the events. */
export const eventBindings = (events: readonly string[]): Record<string, string> => Object.fromEntries(events.map((event, j) => [`ev${j}`, event]));

/** How a metric's per-identity value y (or, with prefix 'p', its pre-exposure covariate x) is read from a slot. */
export function metricValue(aggregation: MetricAggregation, slot: (field: SlotField) => string, pre: boolean): string {
  const f = (field: 'c' | 's' | 'v') => slot((pre ? `p${field}` : field) as SlotField);
  switch (aggregation) {
    case 'occurrence':
      return `(${f('c')} > 0)::int::float8`;
    case 'count':
      return `${f('c')}::float8`;
    case 'sum':
      return `${f('s')}::float8`;
    case 'mean':
      return `coalesce(${f('s')} / nullif(${f('v')}, 0), 0)::float8`;
  }
}

/**
 * Per metric k, reading slot `slotOf(k)`: the per-identity select list (y_k, x_k, h_k: has pre-exposure data)
 * and the per-variant sums over it (sum_k, sumsq_k, pren_k, sumx_k, sumx2_k, sumxy_k), which assembleInput reads.
 */
export function metricColumns(
  metrics: readonly { aggregation: MetricAggregation }[],
  slotOf: (k: number) => (field: SlotField) => string,
): { values: string[]; sums: string[] } {
  const values = metrics.flatMap((m, k) => [
    `${metricValue(m.aggregation, slotOf(k), false)} as y${k}`,
    `${metricValue(m.aggregation, slotOf(k), true)} as x${k}`,
    `${slotOf(k)('pc')} > 0 as h${k}`,
  ]);
  const sums = metrics.flatMap((_, k) => [
    `sum(y${k}) as sum_${k}`,
    `sum(y${k} * y${k}) as sumsq_${k}`,
    `count(*) filter (where h${k}) as pren_${k}`,
    `sum(x${k}) as sumx_${k}`,
    `sum(x${k} * x${k}) as sumx2_${k}`,
    `sum(x${k} * y${k}) as sumxy_${k}`,
  ]);
  return { values, sums };
}
