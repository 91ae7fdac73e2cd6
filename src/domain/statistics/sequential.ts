import type { SequentialBlock } from './types.js';

// gbstats' SequentialTwoSidedTTest: the asymptotic confidence sequence of Waudby-Smith et al. 2023
// (arXiv 2103.06476, eqs. 9, 155 and 161), valid however often results are looked at. The two-arm estimate is
// treated as a mean over n = nc + nt observations with per-observation variance s² = se²·n.

export const DEFAULT_SEQUENTIAL_TAU = 5000;

/** Mixing parameter ρ for tuning parameter τ (eq. 161, two-sided). */
export function sequentialRho(alpha: number, tau: number): number {
  const logAlpha = Math.log(alpha);
  return Math.sqrt((-2 * logAlpha + Math.log(-2 * logAlpha + 1)) / tau);
}

/** Half-width of the confidence sequence: s·√(2(nρ² + 1) ln(√(nρ² + 1)/α) / (nρ)²) (eq. 9). */
export function sequentialHalfWidth(se: number, n: number, alpha: number, tau: number): number {
  const rho = sequentialRho(alpha, tau);
  const nRho2 = n * rho * rho;
  const s2 = se * se * n;
  return Math.sqrt(s2) * Math.sqrt((2 * (nRho2 + 1) * Math.log(Math.sqrt(nRho2 + 1) / alpha)) / (n * rho) ** 2);
}

/**
 * Always-valid p-value: the inverse of the mixture e-value exp(ρ² S²/(2(nρ² + 1)))/√(nρ² + 1), S² = lift²·n/se²
 * (eq. 155 as gbstats writes it), capped at 1. It is below alpha exactly when the sequence excludes 0.
 */
export function sequentialPValue(lift: number, se: number, n: number, alpha: number, tau: number): number {
  const rho = sequentialRho(alpha, tau);
  const nRho2p1 = n * rho * rho + 1;
  if (lift === 0) return 1;
  if (!(se > 0)) return 0;
  const s2 = (lift * lift * n) / (se * se);
  // In logs: the e-value itself overflows long before the p-value stops being representable.
  const logEValue = (rho * rho * s2) / (2 * nRho2p1) - 0.5 * Math.log(nRho2p1);
  return Math.min(1, Math.exp(-logEValue));
}

export function sequentialTest(lift: number, se: number, n: number, alpha: number, tau: number): SequentialBlock {
  const halfWidth = se > 0 ? sequentialHalfWidth(se, n, alpha, tau) : 0;
  return { pValue: sequentialPValue(lift, se, n, alpha, tau), ciLow: lift - halfWidth, ciHigh: lift + halfWidth };
}
