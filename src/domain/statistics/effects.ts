import type { Aggregation, VariantAggregates } from './types.js';

/** What every test needs from an arm: size, mean and per-observation variance. */
export interface ArmMoments {
  n: number;
  mean: number;
  variance: number;
}

/** A relative effect (treatment − control) / control with its delta-method standard error. */
export interface RelativeEffect {
  lift: number;
  se: number;
  /** Welch–Satterthwaite degrees of freedom; null when both variances are zero (then se is 0 too). */
  df: number | null;
}

/** Sample variance max(0, (Σy² − (Σy)²/n) / (n − 1)): DOMAIN.md's per-variant variance. */
export function sampleVariance(n: number, sum: number, sumSquares: number): number {
  if (n <= 1) return 0;
  return Math.max(0, (sumSquares - (sum * sum) / n) / (n - 1));
}

/** Flagsmith's arm moments: mean = sum/n and the sample variance, for every aggregation. */
export function flagsmithMoments(arm: VariantAggregates): ArmMoments {
  return { n: arm.n, mean: arm.n > 0 ? arm.sum / arm.n : 0, variance: sampleVariance(arm.n, arm.sum, arm.sumSquares) };
}

/** gbstats' arm moments: occurrence metrics are proportions with variance p(1 − p), the rest use the sample variance. */
export function gbstatsMoments(arm: VariantAggregates, aggregation: Aggregation): ArmMoments {
  const mean = arm.n > 0 ? arm.sum / arm.n : 0;
  const variance = aggregation === 'occurrence' ? Math.max(0, mean * (1 - mean)) : sampleVariance(arm.n, arm.sum, arm.sumSquares);
  return { n: arm.n, mean, variance };
}

/** Delta-method relative effect: lift = (mt − mc)/mc, var = vt/(nt·mc²) + mt²·vc/(nc·mc⁴). Needs mc ≠ 0. */
export function relativeEffect(control: ArmMoments, treatment: ArmMoments): RelativeEffect {
  const mc = control.mean;
  const mt = treatment.mean;
  const lift = (mt - mc) / mc;
  const variance = treatment.variance / (treatment.n * mc * mc) + (mt * mt * control.variance) / (control.n * mc ** 4);
  return { lift, se: Math.sqrt(variance), df: welchDf(control, treatment) };
}

/**
 * Welch–Satterthwaite df on the absolute variances, as gbstats computes it (also for relative effects):
 * (vt/nt + vc/nc)² / ((vt/nt)²/(nt − 1) + (vc/nc)²/(nc − 1)). Scaled by the larger term so squares cannot overflow.
 */
export function welchDf(control: ArmMoments, treatment: ArmMoments): number | null {
  const t = treatment.variance / treatment.n;
  const c = control.variance / control.n;
  const scale = Math.max(t, c);
  if (!(scale > 0) || !Number.isFinite(scale)) return null;
  const ts = t / scale;
  const cs = c / scale;
  return (ts + cs) ** 2 / ((ts * ts) / (treatment.n - 1) + (cs * cs) / (control.n - 1));
}
