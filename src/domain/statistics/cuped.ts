import { welchDf } from './effects.js';
import type { RelativeEffect } from './effects.js';
import { gbstatsMoments } from './effects.js';
import type { Aggregation, VariantAggregates } from './types.js';

// CUPED as gbstats' RegressionAdjustedStatistic: y is the metric in the window, x the same metric before exposure.
// θ = cov(x, y) / var(x) over both arms pooled; adjusted arm mean ȳ − θ·x̄ (the difference of adjusted means is the
// same as with x centred on its pooled mean); the relative lift keeps the unadjusted control mean as denominator.
// Occurrence metrics follow gbstats' proportion conventions (variance p(1 − p), covariance Σxy/n − x̄ȳ); the others
// use sample (n − 1) variances and covariances.

export interface CupedEffect extends RelativeEffect {
  theta: number;
}

interface CupedArm {
  n: number;
  meanY: number;
  varY: number;
  meanX: number;
  varX: number;
  covXY: number;
}

const NO_PRE_DATA = { n: 0, sumX: 0, sumX2: 0, sumXY: 0 };

function moments(n: number, sumY: number, sumY2: number, sumX: number, sumX2: number, sumXY: number, proportions: boolean): CupedArm {
  const meanY = sumY / n;
  const meanX = sumX / n;
  if (proportions) {
    return { n, meanY, varY: Math.max(0, meanY * (1 - meanY)), meanX, varX: Math.max(0, meanX * (1 - meanX)), covXY: sumXY / n - meanX * meanY };
  }
  return {
    n,
    meanY,
    varY: Math.max(0, (sumY2 - (sumY * sumY) / n) / (n - 1)),
    meanX,
    varX: Math.max(0, (sumX2 - (sumX * sumX) / n) / (n - 1)),
    covXY: (sumXY - (sumX * sumY) / n) / (n - 1),
  };
}

function armMoments(arm: VariantAggregates, proportions: boolean): CupedArm {
  const pre = arm.pre ?? NO_PRE_DATA;
  return moments(arm.n, arm.sum, arm.sumSquares, pre.sumX, pre.sumX2, pre.sumXY, proportions);
}

/** Whether any identity of the two arms has pre-exposure data; without any, CUPED has nothing to adjust with. */
export function hasPreExposureData(control: VariantAggregates, treatment: VariantAggregates): boolean {
  return (control.pre?.n ?? 0) + (treatment.pre?.n ?? 0) > 0;
}

/** θ from both arms' data pooled (gbstats' compute_theta); 0 when x or y does not vary. */
export function pooledTheta(control: VariantAggregates, treatment: VariantAggregates, aggregation: Aggregation): number {
  const c = control.pre ?? NO_PRE_DATA;
  const t = treatment.pre ?? NO_PRE_DATA;
  const joint = moments(
    control.n + treatment.n,
    control.sum + treatment.sum,
    control.sumSquares + treatment.sumSquares,
    c.sumX + t.sumX,
    c.sumX2 + t.sumX2,
    c.sumXY + t.sumXY,
    aggregation === 'occurrence',
  );
  if (joint.varX === 0 || joint.varY === 0) return 0;
  return joint.covXY / joint.varX;
}

/**
 * Regression-adjusted relative effect; the arms must already pass the minimum-sample rules (control mean > 0).
 * Variance as gbstats' frequentist_variance_relative_cuped; df by Welch on the adjusted per-arm variances.
 */
export function cupedEffect(control: VariantAggregates, treatment: VariantAggregates, aggregation: Aggregation): CupedEffect {
  const proportions = aggregation === 'occurrence';
  const theta = pooledTheta(control, treatment, aggregation);
  const c = armMoments(control, proportions);
  const t = armMoments(treatment, proportions);
  const adjustedVariance = (arm: CupedArm) => Math.max(0, arm.varY + theta * theta * arm.varX - 2 * theta * arm.covXY);
  const lift = (t.meanY - theta * t.meanX - (c.meanY - theta * c.meanX)) / c.meanY;
  const controlMean2 = c.meanY * c.meanY;
  const treatmentPart = adjustedVariance(t) / (t.n * controlMean2);
  const ratio = t.meanY / c.meanY;
  const controlPart = (c.varY * ratio * ratio - 2 * theta * c.covXY * ratio + theta * theta * c.varX) / (c.n * controlMean2);
  const se = Math.sqrt(Math.max(0, treatmentPart + controlPart));
  const df = welchDf(
    { ...gbstatsMoments(control, aggregation), variance: adjustedVariance(c) },
    { ...gbstatsMoments(treatment, aggregation), variance: adjustedVariance(t) },
  );
  return { theta, lift, se, df };
}
