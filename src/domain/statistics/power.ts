import { normalQuantile } from './distributions.js';

// Planning helpers for a two-sample comparison of means with equal arms and equal variance (normal approximation):
// an absolute difference δ is detected with the given power when δ = (z_{1−α/2} + z_{power})·√(2σ²/n).
// Relative effects are δ / baseline mean.

export interface PowerSettings {
  baselineMean: number;
  /** Per-observation variance; for a conversion rate p that is p(1 − p). */
  baselineVariance: number;
  alpha?: number;
  power?: number;
  /** Default true; a one-sided test uses z_{1−α}. */
  twoSided?: boolean;
}

function zSum(settings: PowerSettings): number | null {
  const alpha = settings.alpha ?? 0.05;
  const power = settings.power ?? 0.8;
  if (!(alpha > 0 && alpha < 1) || !(power > 0 && power < 1)) return null;
  const zAlpha = -normalQuantile((settings.twoSided ?? true) ? alpha / 2 : alpha);
  return zAlpha + normalQuantile(power);
}

/** Smallest relative effect detectable with `nPerArm` identities in each arm; null when it is not defined. */
export function minimumDetectableEffect(settings: PowerSettings & { nPerArm: number }): number | null {
  const z = zSum(settings);
  const { baselineMean, baselineVariance, nPerArm } = settings;
  if (z === null || baselineMean === 0 || !(baselineVariance > 0) || !(nPerArm > 0)) return null;
  const mde = (z * Math.sqrt((2 * baselineVariance) / nPerArm)) / Math.abs(baselineMean);
  return Number.isFinite(mde) ? mde : null;
}

/** Identities needed in each arm to detect `relativeEffect` (e.g. 0.05 for +5 %); null when not defined. */
export function sampleSizePerArm(settings: PowerSettings & { relativeEffect: number }): number | null {
  const z = zSum(settings);
  const { baselineMean, baselineVariance, relativeEffect } = settings;
  const delta = relativeEffect * baselineMean;
  if (z === null || delta === 0 || !(baselineVariance > 0)) return null;
  const n = Math.ceil((2 * baselineVariance * z * z) / (delta * delta));
  return Number.isFinite(n) ? n : null;
}
