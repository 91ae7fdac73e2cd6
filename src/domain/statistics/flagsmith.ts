import { normalCdf } from './distributions.js';
import { flagsmithMoments, relativeEffect } from './effects.js';
import type { Aggregation, MetricDirection, VariantAggregates } from './types.js';

// DOMAIN.md "Results": Flagsmith's default inference (normal, flat prior, fixed 95 % z whatever alpha is).
export const FLAGSMITH_Z = 1.959963984540054;
export const MIN_ARM_SIZE = 50;
export const MIN_OCCURRENCE_CONVERSIONS = 5;

export interface FlagsmithEstimate {
  lift: number;
  ciLow: number;
  ciHigh: number;
  chanceToWin: number;
  se: number;
}

/**
 * The minimum-sample rules: no inference without a control arm, when either arm has n < 50, when an occurrence
 * metric has fewer than 5 conversions in either arm, or when the control mean is ≤ 0.
 */
export function inferenceAllowed(
  control: VariantAggregates | undefined,
  treatment: VariantAggregates | undefined,
  aggregation: Aggregation,
): boolean {
  if (!control || !treatment) return false;
  if (control.n < MIN_ARM_SIZE || treatment.n < MIN_ARM_SIZE) return false;
  if (aggregation === 'occurrence' && (control.sum < MIN_OCCURRENCE_CONVERSIONS || treatment.sum < MIN_OCCURRENCE_CONVERSIONS)) return false;
  return control.sum / control.n > 0;
}

/**
 * Probability that the treatment beats control, Φ(lift/se); with se = 0 the normal collapses to a point, so it
 * is 1 or 0 by the sign of the lift (0.5 for no lift). For a `down` metric winning means going down.
 */
export function flagsmithChanceToWin(lift: number, se: number, direction: MetricDirection): number {
  const signedLift = direction === 'down' ? -lift : lift;
  if (se > 0) return normalCdf(signedLift / se);
  if (signedLift === 0) return 0.5;
  return signedLift > 0 ? 1 : 0;
}

/** Flagsmith's lift, 95 % interval and chance to win; call only when `inferenceAllowed` holds. */
export function flagsmithEstimate(control: VariantAggregates, treatment: VariantAggregates, direction: MetricDirection): FlagsmithEstimate {
  const { lift, se } = relativeEffect(flagsmithMoments(control), flagsmithMoments(treatment));
  return {
    lift,
    ciLow: lift - FLAGSMITH_Z * se,
    ciHigh: lift + FLAGSMITH_Z * se,
    chanceToWin: flagsmithChanceToWin(lift, se, direction),
    se,
  };
}
