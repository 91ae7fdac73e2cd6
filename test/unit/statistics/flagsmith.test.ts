import { describe, expect, it } from 'vitest';
import { analyzeExperiment } from '../../../src/domain/statistics/index.js';
import type { Aggregation, MetricDirection, VariantAggregates } from '../../../src/domain/statistics/index.js';
import { flagsmithChanceToWin, flagsmithEstimate, inferenceAllowed } from '../../../src/domain/statistics/flagsmith.js';
import { expectClose } from './close.js';

function analyzeOne(
  control: VariantAggregates | undefined,
  treatment: VariantAggregates,
  aggregation: Aggregation = 'sum',
  direction: MetricDirection = 'up',
) {
  const variants: Record<string, VariantAggregates> = { variant_a: treatment };
  if (control) variants.control = control;
  const result = analyzeExperiment({
    controlVariant: 'control',
    variantAllocations: { variant_a: 50 },
    exposures: { control: control?.n ?? 0, variant_a: treatment.n },
    metrics: [{ metricId: 1, attachmentId: 1, aggregation, direction, expectedDirection: 'increase', variants }],
  });
  return result.metrics[0]!.inference.variant_a;
}

describe("Flagsmith's default lift, interval and chance to win", () => {
  // Control 50 of 100 converted, treatment 60 of 100. By hand, with DOMAIN.md's sample variance:
  // vc = (50 − 50²/100)/99 = 25/99, vt = (60 − 60²/100)/99 = 24/99, lift = (0.6 − 0.5)/0.5 = 0.2,
  // var = (24/99)/(100·0.5²) + 0.6²·(25/99)/(100·0.5⁴) = 0.96/99 + 1.44/99 = 2.4/99.
  const control = { n: 100, sum: 50, sumSquares: 50 };
  const treatment = { n: 100, sum: 60, sumSquares: 60 };
  const se = Math.sqrt(2.4 / 99);

  it('computes lift and the delta-method interval by hand', () => {
    const estimate = flagsmithEstimate(control, treatment, 'up');
    expectClose(estimate.lift, 0.2, 1e-14);
    expectClose(estimate.se, 0.15569978883230459, 1e-14);
    expectClose(estimate.ciLow, 0.2 - 1.959963984540054 * se, 1e-14);
    expectClose(estimate.ciHigh, 0.2 + 1.959963984540054 * se, 1e-14);
    // Φ(0.2/se) = Φ(1.2845232578665129), from mpmath.
    expectClose(estimate.chanceToWin, 0.9005205344537989, 1e-14);
  });

  it('keeps z = 1.959963984540054 whatever alpha the other blocks use', () => {
    const result = analyzeExperiment(
      {
        controlVariant: 'control',
        variantAllocations: { variant_a: 50 },
        exposures: { control: 100, variant_a: 100 },
        metrics: [
          {
            metricId: 1,
            attachmentId: 1,
            aggregation: 'occurrence',
            direction: 'up',
            expectedDirection: 'increase',
            variants: { control, variant_a: treatment },
          },
        ],
      },
      { alpha: 0.2 },
    );
    const inference = result.metrics[0]!.inference.variant_a!;
    expectClose(inference.ciHigh - inference.lift, 1.959963984540054 * se, 1e-13);
    // The Bayesian block does follow alpha (z₀.₉ = 1.2815515655446004) and gbstats' proportion variance p(1 − p):
    // var = 0.24/(100·0.25) + 0.36·0.25/(100·0.0625) = 0.024.
    expectClose(inference.bayesian.ciHigh - inference.lift, 1.2815515655446004 * Math.sqrt(0.024), 1e-13);
  });

  it('flips chance to win for a metric whose direction is down', () => {
    const up = flagsmithEstimate(control, treatment, 'up').chanceToWin;
    const down = flagsmithEstimate(control, treatment, 'down').chanceToWin;
    expectClose(down, 0.09947946554620114, 1e-13);
    expectClose(up + down, 1, 1e-15);
    expect(flagsmithEstimate(control, treatment, 'informational').chanceToWin).toBe(up);
  });

  it('handles se = 0: certain win, certain loss, or a coin toss without lift', () => {
    // Every control identity has value 1, every treatment identity 2: no variance at all.
    const ones = { n: 60, sum: 60, sumSquares: 60 };
    const twos = { n: 60, sum: 120, sumSquares: 240 };
    const estimate = flagsmithEstimate(ones, twos, 'up');
    expect(estimate).toEqual({ lift: 1, ciLow: 1, ciHigh: 1, chanceToWin: 1, se: 0 });
    expect(flagsmithEstimate(ones, twos, 'down').chanceToWin).toBe(0);
    expect(flagsmithEstimate(twos, ones, 'up').chanceToWin).toBe(0);
    expect(flagsmithEstimate(ones, { ...ones }, 'up').chanceToWin).toBe(0.5);
    expect(flagsmithChanceToWin(0, 0, 'down')).toBe(0.5);
  });
});

describe('minimum-sample rules', () => {
  const arm = (n: number, sum: number): VariantAggregates => ({ n, sum, sumSquares: sum * 2 });

  it('needs at least 50 identities in each arm', () => {
    expect(analyzeOne(arm(49, 30), arm(80, 40))).toBeNull();
    expect(analyzeOne(arm(80, 40), arm(49, 30))).toBeNull();
    expect(analyzeOne(arm(50, 30), arm(50, 30))).not.toBeNull();
  });

  it('needs 5 conversions in each arm of an occurrence metric, and only of an occurrence metric', () => {
    const occurrence = (n: number, sum: number): VariantAggregates => ({ n, sum, sumSquares: sum });
    expect(analyzeOne(occurrence(100, 4), occurrence(100, 9), 'occurrence')).toBeNull();
    expect(analyzeOne(occurrence(100, 9), occurrence(100, 4), 'occurrence')).toBeNull();
    expect(analyzeOne(occurrence(100, 5), occurrence(100, 5), 'occurrence')).not.toBeNull();
    expect(analyzeOne(arm(100, 4), arm(100, 4), 'count')).not.toBeNull();
  });

  it('needs a control arm with a positive mean', () => {
    expect(analyzeOne(undefined, arm(100, 40))).toBeNull();
    expect(analyzeOne({ n: 100, sum: 0, sumSquares: 0 }, arm(100, 40), 'count')).toBeNull();
    expect(analyzeOne({ n: 100, sum: -20, sumSquares: 400 }, arm(100, 40))).toBeNull();
    expect(inferenceAllowed({ n: 100, sum: 1, sumSquares: 1 }, arm(100, 40), 'sum')).toBe(true);
  });
});
