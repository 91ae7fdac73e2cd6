import { describe, expect, it } from 'vitest';
import { assembleInput, buildResultsQuery, variantKeys, type ResultsSubject } from '../../../src/results/results-query.js';

const subject: ResultsSubject = {
  experimentId: 1,
  environmentId: 2,
  environmentKey: 'env',
  status: 'running',
  startedAt: new Date('2026-11-01T00:00:00Z'),
  endedAt: null,
  exposureEvent: '$flag_exposure',
  controlVariant: 'control',
  featureName: 'f',
  variantAllocations: { variant_a: 30, variant_b: 30 },
  metrics: [
    { attachmentId: 10, metricId: 100, aggregation: 'occurrence', direction: 'up', expectedDirection: 'increase', event: 'purchase' },
    { attachmentId: 11, metricId: 101, aggregation: 'sum', direction: 'down', expectedDirection: 'not_increase', event: 'purchase' },
    { attachmentId: 12, metricId: 102, aggregation: 'count', direction: 'up', expectedDirection: 'increase', event: "it's \"odd\"" },
  ],
};

const row = (vi: number, n: number, sums: number[][]) => ({
  vi,
  n,
  ...Object.fromEntries(
    sums.flatMap(([sum, sumsq, pren, sumx, sumx2, sumxy], k) => [
      [`sum_${k}`, sum],
      [`sumsq_${k}`, sumsq],
      [`pren_${k}`, String(pren)],
      [`sumx_${k}`, sumx],
      [`sumx2_${k}`, sumx2],
      [`sumxy_${k}`, sumxy],
    ]),
  ),
});

describe('assembleInput', () => {
  it('lists control first, then the feature variants', () => {
    expect(variantKeys(subject)).toEqual(['control', 'variant_a', 'variant_b']);
  });

  it('fills every variant, with zeros for a variant without a row', () => {
    const input = assembleInput(subject, [
      row(1, 10, [[4, 4, 2, 1, 1, 1], [30, 400, 2, 5, 25, 20], [7, 11, 0, 0, 0, 0]]),
      row(2, 8, [[3, 3, 0, 0, 0, 0], [30.5, 400.25, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]),
    ]);
    expect(input.controlVariant).toBe('control');
    expect(input.variantAllocations).toEqual({ variant_a: 30, variant_b: 30 });
    expect(input.exposures).toEqual({ control: 10, variant_a: 8, variant_b: 0 });
    expect(input.metrics.map((m) => [m.metricId, m.attachmentId, m.aggregation, m.direction, m.expectedDirection])).toEqual([
      [100, 10, 'occurrence', 'up', 'increase'],
      [101, 11, 'sum', 'down', 'not_increase'],
      [102, 12, 'count', 'up', 'increase'],
    ]);
    expect(input.metrics[0]!.variants).toEqual({
      control: { n: 10, sum: 4, sumSquares: 4, pre: { n: 2, sumX: 1, sumX2: 1, sumXY: 1 } },
      variant_a: { n: 8, sum: 3, sumSquares: 3, pre: { n: 0, sumX: 0, sumX2: 0, sumXY: 0 } },
      variant_b: { n: 0, sum: 0, sumSquares: 0, pre: { n: 0, sumX: 0, sumX2: 0, sumXY: 0 } },
    });
    expect(input.metrics[1]!.variants.control).toEqual({ n: 10, sum: 30, sumSquares: 400, pre: { n: 2, sumX: 5, sumX2: 25, sumXY: 20 } });
  });

  it('adds up the rows of the parts a query ran in', () => {
    const zero = [0, 0, 0, 0, 0, 0];
    const input = assembleInput(subject, [
      row(1, 6, [[2, 2, 1, 1, 1, 1], zero, zero]),
      row(1, 4, [[2, 2, 1, 0, 0, 0], zero, zero]),
      row(3, 1, [zero, zero, [5, 25, 0, 0, 0, 0]]),
    ]);
    expect(input.exposures).toEqual({ control: 10, variant_a: 0, variant_b: 1 });
    expect(input.metrics[0]!.variants.control).toEqual({ n: 10, sum: 4, sumSquares: 4, pre: { n: 2, sumX: 1, sumX2: 1, sumXY: 1 } });
    expect(input.metrics[2]!.variants.variant_b).toMatchObject({ n: 1, sum: 5, sumSquares: 25 });
  });
});

describe('buildResultsQuery', () => {
  const window = { from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-08T00:00:00Z') };

  it('binds every name and value, and aggregates each distinct event once', () => {
    const { sql, bindings } = buildResultsQuery(subject, window, 14);
    expect(bindings).toMatchObject({
      env: 2,
      exposureEvent: '$flag_exposure',
      feature: 'f',
      from: '2026-11-01T00:00:00.000Z',
      to: '2026-11-08T00:00:00.000Z',
      variants: '{"control","variant_a","variant_b"}',
      events: String.raw`{"purchase","it's \"odd\""}`,
      lookback: 14,
      ev0: 'purchase',
      ev1: "it's \"odd\"",
    });
    expect(sql).not.toContain('purchase');
    expect(sql).not.toContain('odd');
    expect(sql.match(/ as c\d/g)).toEqual([' as c0', ' as c1']);
    // Σ value only where a sum or mean metric needs it.
    expect(sql).toContain(' as s0');
    expect(sql).not.toContain(' as s1');
    expect(sql).not.toContain('mod(');
  });

  it('restricts both sides to one hash part when split', () => {
    const { sql, bindings } = buildResultsQuery(subject, window, 14, 2);
    expect(bindings).toMatchObject({ parts: 2, part: 0 });
    expect(sql.match(/abs\(mod\((e\.)?identity_key, cast\(:parts as bigint\)\)\) = :part/g)).toHaveLength(2);
  });

  it('still counts exposures for an experiment without metrics', () => {
    const { sql } = buildResultsQuery({ ...subject, metrics: [] }, window, 14);
    expect(sql).not.toContain('left join');
    expect(sql).toContain('count(*) as n');
  });
});
