import { describe, expect, it } from 'vitest';
import { analyzeExperiment, holmAdjust, benjaminiHochbergAdjust } from '../../../src/domain/statistics/index.js';
import type { ExperimentInput, MetricInput, VariantAggregates } from '../../../src/domain/statistics/index.js';

const arm = (n: number, mean: number, sd: number): VariantAggregates => ({ n, sum: n * mean, sumSquares: (n - 1) * sd * sd + n * mean * mean });

function metric(metricId: number, expectedDirection: MetricInput['expectedDirection'], variants: Record<string, VariantAggregates>): MetricInput {
  return { metricId, attachmentId: metricId + 100, aggregation: 'mean', direction: 'up', expectedDirection, variants };
}

// Two treatments, two goal metrics, one guardrail and one metric too small for inference.
const experiment: ExperimentInput = {
  controlVariant: 'control',
  variantAllocations: { a: 30, b: 30 },
  exposures: { control: 4000, a: 3000, b: 3000 },
  metrics: [
    metric(1, 'increase', { control: arm(4000, 10, 4), a: arm(3000, 10.3, 4), b: arm(3000, 10.1, 4) }),
    metric(2, 'decrease', { control: arm(4000, 5, 2), a: arm(3000, 4.93, 2), b: arm(3000, 5.02, 2) }),
    metric(3, 'not_increase', { control: arm(4000, 1, 1), a: arm(3000, 1.04, 1), b: arm(3000, 1, 1) }),
    metric(4, 'increase', { control: arm(40, 3, 1), a: arm(3000, 3, 1), b: arm(3000, 3, 1) }),
  ],
};

describe('analyzeExperiment', () => {
  it('returns exactly the contract payload fields (without window), JSON-safe', () => {
    const result = analyzeExperiment(experiment);
    expect(Object.keys(result).sort()).toEqual(['exposures', 'metrics', 'srmPValue']);
    const first = result.metrics[0]!;
    expect(Object.keys(first).sort()).toEqual([
      'aggregation',
      'attachmentId',
      'direction',
      'expectedDirection',
      'guardrail',
      'inference',
      'metricId',
      'variants',
    ]);
    expect(first.variants.control).toEqual({ n: 4000, sum: 40000, sumSquares: experiment.metrics[0]!.variants.control!.sumSquares });
    const inference = first.inference.a!;
    expect(Object.keys(inference).sort()).toEqual(['bayesian', 'chanceToWin', 'ciHigh', 'ciLow', 'cuped', 'frequentist', 'lift', 'sequential']);
    expect(Object.keys(inference.bayesian).sort()).toEqual(['chanceToWin', 'ciHigh', 'ciLow', 'riskControl', 'riskTreatment']);
    expect(Object.keys(inference.frequentist).sort()).toEqual(['ciHigh', 'ciLow', 'df', 'pValue', 'pValueAdjusted']);
    expect(Object.keys(inference.sequential).sort()).toEqual(['ciHigh', 'ciLow', 'pValue']);
    expect(inference.cuped).toBeNull();
    // NaN or ±∞ anywhere would come back from JSON as null.
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(result.exposures).toEqual(experiment.exposures);
    expect(result.exposures).not.toBe(experiment.exposures);
  });

  it('marks guardrails and gives null inference below the minimum sample', () => {
    const result = analyzeExperiment(experiment);
    expect(result.metrics.map((m) => m.guardrail)).toEqual([false, false, true, false]);
    expect(result.metrics[3]!.inference).toEqual({ a: null, b: null });
    expect(result.metrics[2]!.inference.a!.frequentist.ciHigh).toBeNull();
  });

  it('adjusts the goal p-values of all metrics and treatments as one family; guardrails keep their own', () => {
    for (const correction of ['holm', 'bh', 'none'] as const) {
      const result = analyzeExperiment(experiment, { correction });
      const goals = [result.metrics[0]!, result.metrics[1]!].flatMap((m) => [m.inference.a!.frequentist, m.inference.b!.frequentist]);
      const raw = goals.map((block) => block.pValue);
      const expected = correction === 'holm' ? holmAdjust(raw) : correction === 'bh' ? benjaminiHochbergAdjust(raw) : raw;
      expect(goals.map((block) => block.pValueAdjusted)).toEqual(expected);
      for (const block of [result.metrics[2]!.inference.a!.frequentist, result.metrics[2]!.inference.b!.frequentist]) {
        expect(block.pValueAdjusted).toBe(block.pValue);
      }
    }
    // Holm by default, and with four tests the smallest p-value is multiplied by 4.
    const byDefault = analyzeExperiment(experiment).metrics[0]!.inference.a!.frequentist;
    expect(byDefault.pValueAdjusted).toBe(Math.min(1, 4 * byDefault.pValue));
    expect(byDefault.pValue).toBeLessThan(0.01);
  });

  it('computes the sample ratio mismatch p-value from the allocation, null below 100 exposures', () => {
    expect(analyzeExperiment(experiment).srmPValue).toBe(1);
    expect(analyzeExperiment({ ...experiment, exposures: { control: 40, a: 30, b: 29 } }).srmPValue).toBeNull();
  });

  it('reports every known variant, null where it has no data, and ignores prototype names', () => {
    const result = analyzeExperiment({
      controlVariant: 'control',
      variantAllocations: { a: 50, constructor: 0 },
      exposures: { control: 100, a: 100 },
      metrics: [metric(1, 'increase', { control: arm(100, 2, 1), a: arm(100, 2.2, 1) })],
    });
    expect(Object.keys(result.metrics[0]!.inference)).toEqual(['a', 'constructor']);
    expect(result.metrics[0]!.inference.constructor).toBeNull();
    expect(result.metrics[0]!.inference.a).not.toBeNull();
  });

  it('gives every block its point-mass limit when neither arm varies', () => {
    const result = analyzeExperiment({
      controlVariant: 'control',
      variantAllocations: { a: 50 },
      exposures: { control: 60, a: 60 },
      metrics: [metric(1, 'increase', { control: { n: 60, sum: 60, sumSquares: 60 }, a: { n: 60, sum: 120, sumSquares: 240 } })],
    });
    const inference = result.metrics[0]!.inference.a!;
    expect(inference).toMatchObject({ lift: 1, ciLow: 1, ciHigh: 1, chanceToWin: 1 });
    expect(inference.frequentist).toEqual({ pValue: 0, ciLow: 1, ciHigh: 1, df: null, pValueAdjusted: 0 });
    expect(inference.sequential).toEqual({ pValue: 0, ciLow: 1, ciHigh: 1 });
    expect(inference.bayesian).toEqual({ chanceToWin: 1, ciLow: 1, ciHigh: 1, riskControl: 1, riskTreatment: 0 });
  });

  it('leaves chance to win of an informational metric as it is', () => {
    const input = (direction: MetricInput['direction']): ExperimentInput => ({
      ...experiment,
      metrics: [{ ...experiment.metrics[0]!, direction }],
    });
    const informational = analyzeExperiment(input('informational')).metrics[0]!.inference.a!;
    const up = analyzeExperiment(input('up')).metrics[0]!.inference.a!;
    const down = analyzeExperiment(input('down')).metrics[0]!.inference.a!;
    expect(informational.chanceToWin).toBe(up.chanceToWin);
    expect(informational.bayesian).toEqual(up.bayesian);
    expect(down.chanceToWin).toBeLessThan(0.01);
  });

  it('returns null rather than a non-finite number when the arithmetic overflows', () => {
    const result = analyzeExperiment({
      controlVariant: 'control',
      variantAllocations: { a: 50 },
      exposures: { control: 50, a: 50 },
      metrics: [metric(1, 'increase', { control: { n: 50, sum: 5e-299, sumSquares: 1 }, a: { n: 50, sum: 1, sumSquares: 1 } })],
    });
    expect(result.metrics[0]!.inference.a).toBeNull();
  });

  it('rejects invalid options and aggregates', () => {
    expect(() => analyzeExperiment(experiment, { alpha: 0 })).toThrow(RangeError);
    expect(() => analyzeExperiment(experiment, { sequentialTau: -1 })).toThrow(/sequentialTau/);
    expect(() => analyzeExperiment(experiment, { correction: 'bonferroni' as never })).toThrow(/correction/);
    const broken = (variants: Record<string, VariantAggregates>) => analyzeExperiment({ ...experiment, metrics: [metric(1, 'increase', variants)] });
    expect(() => broken({ control: { n: -1, sum: 0, sumSquares: 0 } })).toThrow(/metrics\[0\]\.variants\.control\.n/);
    expect(() => broken({ control: { n: 10, sum: Number.NaN, sumSquares: 0 } })).toThrow(/sum/);
    expect(() => broken({ control: { n: 10, sum: 1, sumSquares: 1, pre: { n: 11, sumX: 0, sumX2: 0, sumXY: 0 } } })).toThrow(/pre\.n/);
    expect(() => analyzeExperiment({ ...experiment, exposures: { control: 1.5 } })).toThrow(/exposures\.control/);
  });
});
