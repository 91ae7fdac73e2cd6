import { normalCdf, normalPdf, normalQuantile } from './distributions.js';
import type { BayesianBlock, MetricDirection } from './types.js';

// gbstats' EffectBayesianABTest with its default flat (improper) prior: the posterior of the relative effect is
// N(lift, se²). Chance to win, credible interval and risk (expected loss) all come from that normal.

/** E[max(X, 0)] for X ~ N(mean, sd²): σ(φ(z) + zΦ(z)), z = mean/σ. */
export function expectedPositivePart(mean: number, sd: number): number {
  if (!(sd > 0)) return Math.max(mean, 0);
  const z = mean / sd;
  // Clamped: deep in the lower tail the two terms cancel to rounding noise around a value of ~φ(z)/z².
  return Math.max(0, sd * (normalPdf(z) + z * normalCdf(z)));
}

/**
 * `riskControl` is the expected loss of keeping control (what the treatment would have gained), `riskTreatment`
 * that of shipping the treatment. For a `down` metric a win is a decrease, so chance and risks are mirrored, as
 * gbstats does for inverse metrics. With se = 0 the posterior is a point mass at the lift.
 */
export function bayesianEffect(lift: number, se: number, alpha: number, direction: MetricDirection): BayesianBlock {
  const inverse = direction === 'down';
  const gainIfShipped = inverse ? -lift : lift;
  let chanceToWin: number;
  if (se > 0) chanceToWin = normalCdf(gainIfShipped / se);
  else chanceToWin = gainIfShipped === 0 ? 0.5 : gainIfShipped > 0 ? 1 : 0;
  const halfWidth = se > 0 ? -normalQuantile(alpha / 2) * se : 0;
  return {
    chanceToWin,
    ciLow: lift - halfWidth,
    ciHigh: lift + halfWidth,
    riskControl: expectedPositivePart(gainIfShipped, se),
    riskTreatment: expectedPositivePart(-gainIfShipped, se),
  };
}
