import { chiSquareSf } from './distributions.js';

// Sample ratio mismatch (DOMAIN.md): Pearson χ² of the exposure counts against the allocation shares.

export const SRM_MIN_TOTAL_EXPOSURES = 100;
export const SRM_THRESHOLD = 0.001;

/**
 * Expected weight of each arm in percent: the feature's allocations, and for the control the rest
 * (100 − the others, at least 0; an allocation listed for the control itself is ignored).
 */
export function expectedWeights(variantAllocations: Record<string, number>, controlVariant: string): Map<string, number> {
  const weights = new Map<string, number>();
  let others = 0;
  for (const [variant, percent] of Object.entries(variantAllocations)) {
    if (variant === controlVariant) continue;
    weights.set(variant, percent);
    others += percent;
  }
  weights.set(controlVariant, Math.max(0, 100 - others));
  return weights;
}

/**
 * p-value of Pearson's χ² with k − 1 df over the arms with a positive expected weight (arms with zero weight, and
 * exposures of variants the allocation does not know, are left out). null below 100 exposures in those arms or
 * with fewer than two of them.
 */
export function sampleRatioMismatchPValue(
  exposures: Record<string, number>,
  variantAllocations: Record<string, number>,
  controlVariant: string,
): number | null {
  const arms = [...expectedWeights(variantAllocations, controlVariant)].filter(([, weight]) => weight > 0);
  if (arms.length < 2) return null;
  const totalWeight = arms.reduce((sum, [, weight]) => sum + weight, 0);
  const observed = arms.map(([variant]) => exposures[variant] ?? 0);
  const total = observed.reduce((sum, count) => sum + count, 0);
  if (total < SRM_MIN_TOTAL_EXPOSURES) return null;
  let statistic = 0;
  arms.forEach(([, weight], i) => {
    const expected = (total * weight) / totalWeight;
    statistic += (observed[i]! - expected) ** 2 / expected;
  });
  return chiSquareSf(statistic, arms.length - 1);
}

/** DOMAIN.md: p < 0.001 flags a mismatch; no p-value (too few exposures) flags nothing. */
export function isSampleRatioMismatch(pValue: number | null): boolean {
  return pValue !== null && pValue < SRM_THRESHOLD;
}
