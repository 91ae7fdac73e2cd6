import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../../../src/domain/statistics/index.js';
import type { ExpectedDirection, MetricDirection, MetricInput, VariantAggregates, VariantInference } from '../../../src/domain/statistics/index.js';
import { bayesianEffect, expectedPositivePart } from '../../../src/domain/statistics/bayesian.js';
import { cupedEffect, pooledTheta } from '../../../src/domain/statistics/cuped.js';
import { welchDf } from '../../../src/domain/statistics/effects.js';
import { tTest, testSideFor } from '../../../src/domain/statistics/frequentist.js';
import { sequentialHalfWidth, sequentialPValue, sequentialTest } from '../../../src/domain/statistics/sequential.js';
import { normalPdf, studentTQuantile } from '../../../src/domain/statistics/distributions.js';
import { expectClose, simpson } from './close.js';

// Expected values come from reference-values.py beside this file: gbstats' formulas re-done in Python with scipy.

function analyzeMetric(
  metric: Pick<MetricInput, 'aggregation'> & { direction: MetricDirection; expectedDirection: ExpectedDirection },
  control: VariantAggregates,
  treatment: VariantAggregates,
  options: { alpha?: number; sequentialTau?: number } = {},
): VariantInference {
  const result = analyzeExperiment(
    {
      controlVariant: 'control',
      variantAllocations: { variant_a: 50 },
      exposures: { control: control.n, variant_a: treatment.n },
      metrics: [{ metricId: 1, attachmentId: 2, ...metric, variants: { control, variant_a: treatment } }],
    },
    options,
  );
  const inference = result.metrics[0]!.inference.variant_a;
  expect(inference).not.toBeNull();
  return inference!;
}

function expectBlock<T extends object>(actual: T, expected: { [K in keyof T]?: number | null }, tolerance = 1e-12): void {
  const fields = actual as Record<string, unknown>;
  for (const [key, value] of Object.entries(expected)) {
    if (value === null) expect(fields[key], key).toBeNull();
    else expectClose(fields[key] as number, value as number, tolerance);
  }
}

describe('gbstats blocks against an independent scipy computation', () => {
  it('occurrence goal (the contract example): proportions, two-sided test, CUPED with binary pre data', () => {
    const inference = analyzeMetric(
      { aggregation: 'occurrence', direction: 'up', expectedDirection: 'increase' },
      { n: 1001, sum: 100, sumSquares: 100, pre: { n: 90, sumX: 90, sumX2: 90, sumXY: 40 } },
      { n: 1000, sum: 120, sumSquares: 120, pre: { n: 95, sumX: 95, sumX2: 95, sumXY: 45 } },
    );
    expectBlock(inference.frequentist, { pValue: 0.1901528525564758, ciLow: -0.099877900212445, ciHigh: 0.5022779002124448, df: 1985.9083578078908 });
    expectBlock(inference.bayesian, {
      chanceToWin: 0.9049993457129412,
      ciLow: -0.09969440218981371,
      ciHigh: 0.5020944021898134,
      riskControl: 0.2080337770789315,
      riskTreatment: 0.0068337770789315905,
    });
    expectBlock(inference.sequential, { pValue: 1, ciLow: -0.2783473082715444, ciHigh: 0.6807473082715442 });
    expectBlock(inference.cuped!, {
      theta: 0.38512025241100134,
      lift: 0.18157812313965938,
      ciLow: -0.0998936276888221,
      ciHigh: 0.46304987396814085,
      pValue: 0.20596638614291624,
    });
    // A single test: the family of one is not adjusted.
    expect(inference.frequentist.pValueAdjusted).toBe(inference.frequentist.pValue);
  });

  it('sum guardrail not_increase on a down metric: one-sided test for an increase, mirrored Bayesian view', () => {
    const inference = analyzeMetric(
      { aggregation: 'sum', direction: 'down', expectedDirection: 'not_increase' },
      { n: 1001, sum: 5000, sumSquares: 60000 },
      { n: 1000, sum: 5200, sumSquares: 64000 },
    );
    expectBlock(inference.frequentist, { pValue: 0.22698897202681795, ciLow: -0.0491348813270408, ciHigh: null, df: 1997.3912001682777 });
    expectBlock(inference.bayesian, {
      chanceToWin: 0.2269448787420656,
      ciLow: -0.06636016325441883,
      ciHigh: 0.14844016325441906,
      riskControl: 0.00720065307686556,
      riskTreatment: 0.04824065307686568,
    });
    expectBlock(inference.sequential, { pValue: 1, ciLow: -0.1301278875437869, ciHigh: 0.2122078875437871 });
    expect(inference.cuped).toBeNull();
  });

  it('mean guardrail not_decrease with alpha 0.1 and tau 1000: one-sided test for a decrease', () => {
    const inference = analyzeMetric(
      { aggregation: 'mean', direction: 'up', expectedDirection: 'not_decrease' },
      { n: 240, sum: 3120.5, sumSquares: 61234.25 },
      { n: 260, sum: 3050.25, sumSquares: 57002.5 },
      { alpha: 0.1, sequentialTau: 1000 },
    );
    expectBlock(inference, { lift: -0.0977037703523844, ciLow: -0.21527693629173575, ciHigh: 0.01986939558696696, chanceToWin: 0.05168425825073997 });
    expectBlock(inference.frequentist, { pValue: 0.052004077066707954, ciLow: null, ciHigh: -0.02072352228621624, df: 492.35658622422415 });
    expectBlock(inference.bayesian, {
      chanceToWin: 0.05168425825073997,
      ciLow: -0.19637428162348436,
      ciHigh: 0.0009667409187155557,
      riskControl: 0.0013024621168306015,
      riskTreatment: 0.099006232469215,
    });
    expectBlock(inference.sequential, { pValue: 0.7448306206158732, ciLow: -0.26671354080265963, ciHigh: 0.07130600009789081 });
  });
});

describe('CUPED', () => {
  // Aggregates of seeded individual-level data (reference-values.py, raw_cuped_data(7, 800, 820, 0.9)): y = 3 + 0.8x
  // + noise, a third of identities without pre data (x = 0).
  const control: VariantAggregates = {
    n: 800,
    sum: 6796.209915641139,
    sumSquares: 95310.15020144262,
    pre: { n: 535, sumX: 5180.578605987908, sumX2: 75247.54798908383, sumXY: 77128.17822492628 },
  };
  const treatment: VariantAggregates = {
    n: 820,
    sum: 7759.860019153408,
    sumSquares: 112455.42380329731,
    pre: { n: 566, sumX: 5632.7002573078225, sumX2: 83196.40870908916, sumXY: 88114.7029707982 },
  };

  it('pools θ over both arms: it is the OLS slope of y on x over all identities', () => {
    // numpy: cov(x, y, ddof=1)[0, 1] / var(x, ddof=1) on the raw pooled data.
    expectClose(pooledTheta(control, treatment, 'sum'), 0.7892155989433544, 1e-12);
  });

  it('matches the reference lift, interval and p-value, and narrows the unadjusted interval', () => {
    const inference = analyzeMetric({ aggregation: 'sum', direction: 'up', expectedDirection: 'increase' }, control, treatment);
    expectBlock(inference.cuped!, {
      theta: 0.7892155989433544,
      lift: 0.0773943897434956,
      ciLow: 0.03119361790511195,
      ciHigh: 0.12359516158187926,
      pValue: 0.0010389081708658558,
    });
    expectBlock(inference.frequentist, {
      pValue: 0.007571956415600991,
      ciLow: 0.030361996028854393,
      ciHigh: 0.19752538079101797,
      df: 1617.465917982374,
    });
    const cupedWidth = inference.cuped!.ciHigh! - inference.cuped!.ciLow!;
    const plainWidth = inference.frequentist.ciHigh! - inference.frequentist.ciLow!;
    expect(cupedWidth).toBeLessThan(0.6 * plainWidth);
  });

  it('divides by the unadjusted control mean', () => {
    const theta = pooledTheta(control, treatment, 'sum');
    const adjustedControl = control.sum / control.n - (theta * control.pre!.sumX) / control.n;
    const adjustedTreatment = treatment.sum / treatment.n - (theta * treatment.pre!.sumX) / treatment.n;
    expectClose(cupedEffect(control, treatment, 'sum').lift, (adjustedTreatment - adjustedControl) / (control.sum / control.n), 1e-13);
  });

  it('reduces to the unadjusted analysis when the pre-period value never varies (θ = 0)', () => {
    // Every identity had x = 3 before exposure.
    const flat = (arm: VariantAggregates): VariantAggregates => ({
      ...arm,
      pre: { n: arm.n, sumX: 3 * arm.n, sumX2: 9 * arm.n, sumXY: 3 * arm.sum },
    });
    const inference = analyzeMetric({ aggregation: 'sum', direction: 'up', expectedDirection: 'increase' }, flat(control), flat(treatment));
    expect(inference.cuped!.theta).toBe(0);
    expectClose(inference.cuped!.lift, inference.lift, 1e-14);
    expectClose(inference.cuped!.pValue, inference.frequentist.pValue, 1e-12);
    expectClose(inference.cuped!.ciLow, inference.frequentist.ciLow!, 1e-12);
  });

  it('is null when no identity has pre-exposure data, and one-sided for a guardrail', () => {
    const withoutPre = (arm: VariantAggregates): VariantAggregates => ({
      n: arm.n,
      sum: arm.sum,
      sumSquares: arm.sumSquares,
      pre: { n: 0, sumX: 0, sumX2: 0, sumXY: 0 },
    });
    const goal = { aggregation: 'sum', direction: 'up', expectedDirection: 'increase' } as const;
    expect(analyzeMetric(goal, withoutPre(control), withoutPre(treatment)).cuped).toBeNull();
    const guardrail = analyzeMetric({ aggregation: 'sum', direction: 'up', expectedDirection: 'not_decrease' }, control, treatment);
    expect(guardrail.cuped!.ciLow).toBeNull();
    expect(guardrail.cuped!.ciHigh).toBeGreaterThan(guardrail.cuped!.lift);
  });
});

describe('frequentist test', () => {
  it('Welch–Satterthwaite df by hand', () => {
    // (9/20 + 4/10)² / ((9/20)²/19 + (4/10)²/9)
    expectClose(welchDf({ n: 10, mean: 1, variance: 4 }, { n: 20, mean: 1, variance: 9 }), 25.408226221079694, 1e-14);
    expect(welchDf({ n: 10, mean: 1, variance: 0 }, { n: 20, mean: 1, variance: 0 })).toBeNull();
  });

  it('tests guardrails one-sided for harm and goals two-sided', () => {
    expect(testSideFor('not_increase')).toBe('greater');
    expect(testSideFor('not_decrease')).toBe('lesser');
    expect(testSideFor('increase')).toBe('two-sided');
    expect(testSideFor('decrease')).toBe('two-sided');
  });

  it('one-sided p-values halve the two-sided one in the tested direction and complement it in the other', () => {
    const twoSided = tTest(0.08, 0.05, 40, 'two-sided', 0.05);
    const greater = tTest(0.08, 0.05, 40, 'greater', 0.05);
    const lesser = tTest(0.08, 0.05, 40, 'lesser', 0.05);
    expectClose(greater.pValue, twoSided.pValue / 2, 1e-14);
    expectClose(lesser.pValue, 1 - greater.pValue, 1e-14);
    expectClose(greater.ciLow, 0.08 - studentTQuantile(0.95, 40) * 0.05, 1e-14);
    expect(lesser).toMatchObject({ ciLow: null });
    expectClose(lesser.ciHigh, 0.08 + studentTQuantile(0.95, 40) * 0.05, 1e-14);
  });

  it('takes the point-mass limit when se = 0', () => {
    expect(tTest(0.5, 0, null, 'two-sided', 0.05)).toEqual({ pValue: 0, ciLow: 0.5, ciHigh: 0.5 });
    expect(tTest(0, 0, null, 'two-sided', 0.05)).toEqual({ pValue: 1, ciLow: 0, ciHigh: 0 });
    expect(tTest(0.5, 0, null, 'lesser', 0.05)).toEqual({ pValue: 1, ciLow: null, ciHigh: 0.5 });
    expect(tTest(0, 0, null, 'greater', 0.05).pValue).toBe(0.5);
  });
});

describe('Bayesian block', () => {
  it('risk is the expected loss: a second computation by Simpson integration', () => {
    const lift = 0.03;
    const se = 0.02;
    const density = (x: number) => normalPdf((x - lift) / se) / se;
    const block = bayesianEffect(lift, se, 0.05, 'up');
    expectClose(block.riskControl, simpson((x) => x * density(x), 0, lift + 12 * se), 1e-10);
    expectClose(block.riskTreatment, simpson((x) => -x * density(x), lift - 12 * se, 0), 1e-10);
    // E[max(X, 0)] − E[max(−X, 0)] = E[X].
    expectClose(block.riskControl - block.riskTreatment, lift, 1e-13);
  });

  it('mirrors chance and risks for a down metric', () => {
    const up = bayesianEffect(0.03, 0.02, 0.05, 'up');
    const down = bayesianEffect(0.03, 0.02, 0.05, 'down');
    expectClose(down.chanceToWin, 1 - up.chanceToWin, 1e-14);
    expect(down.riskControl).toBe(up.riskTreatment);
    expect(down.riskTreatment).toBe(up.riskControl);
    expect([down.ciLow, down.ciHigh]).toEqual([up.ciLow, up.ciHigh]);
  });

  it('collapses to a point mass when se = 0', () => {
    expect(bayesianEffect(-0.1, 0, 0.05, 'up')).toEqual({ chanceToWin: 0, ciLow: -0.1, ciHigh: -0.1, riskControl: 0, riskTreatment: 0.1 });
    expect(bayesianEffect(0, 0, 0.05, 'down').chanceToWin).toBe(0.5);
    expect(expectedPositivePart(-40, 1)).toBeGreaterThanOrEqual(0);
  });
});

describe('sequential block', () => {
  it('is consistent with its own interval: p = alpha exactly where the interval touches 0', () => {
    const se = 0.04;
    const n = 3000;
    for (const alpha of [0.05, 0.1]) {
      const lift = sequentialHalfWidth(se, n, alpha, 5000);
      expectClose(sequentialPValue(lift, se, n, alpha, 5000), alpha, 1e-12);
      expect(sequentialPValue(lift * 1.01, se, n, alpha, 5000)).toBeLessThan(alpha);
      expect(sequentialPValue(lift * 0.99, se, n, alpha, 5000)).toBeGreaterThan(alpha);
    }
  });

  it('is wider than the fixed-horizon interval and caps its p-value at 1', () => {
    const block = sequentialTest(0.01, 0.05, 2000, 0.05, 5000);
    expect(block.ciHigh - 0.01).toBeGreaterThan(1.96 * 0.05);
    expect(block.pValue).toBe(1);
  });

  it('stays finite where the e-value overflows', () => {
    expect(sequentialPValue(1, 1e-3, 1e6, 0.05, 5000)).toBe(0);
    expect(sequentialTest(0.2, 0, 100, 0.05, 5000)).toEqual({ pValue: 0, ciLow: 0.2, ciHigh: 0.2 });
  });
});
