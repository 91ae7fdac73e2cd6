import { describe, expect, it } from 'vitest';
import { minimumDetectableEffect, sampleSizePerArm } from '../../../src/domain/statistics/power.js';
import { expectClose } from './close.js';

describe('power planning', () => {
  // 10 % conversion (variance 0.09), +10 % relative (0.01 absolute), α = 0.05 two-sided, 80 % power:
  // n = 2·0.09·(1.959964 + 0.841621)²/0.01² = 14127.98 → 14128 per arm (scipy: norm.ppf).
  const conversion = { baselineMean: 0.1, baselineVariance: 0.09 };

  it('sample size per arm for a target relative effect', () => {
    expect(sampleSizePerArm({ ...conversion, relativeEffect: 0.1 })).toBe(14128);
    expect(sampleSizePerArm({ ...conversion, relativeEffect: -0.1 })).toBe(14128);
    // One-sided, 90 % power, mean 20, variance 25, +5 %: 2·25·(z₀.₉₅ + z₀.₉)²/1² = 428.19.
    expect(sampleSizePerArm({ baselineMean: 20, baselineVariance: 25, relativeEffect: 0.05, power: 0.9, twoSided: false })).toBe(429);
  });

  it('minimum detectable effect is the inverse', () => {
    expectClose(minimumDetectableEffect({ ...conversion, nPerArm: 14128 }), 0.09999994168255787, 1e-12);
    expect(minimumDetectableEffect({ ...conversion, nPerArm: 14127 })!).toBeGreaterThan(0.1);
    // Four times the sample halves the detectable effect.
    expectClose(minimumDetectableEffect({ ...conversion, nPerArm: 4000 }), minimumDetectableEffect({ ...conversion, nPerArm: 1000 })! / 2, 1e-14);
  });

  it('returns null where the question has no answer', () => {
    expect(minimumDetectableEffect({ baselineMean: 0, baselineVariance: 1, nPerArm: 100 })).toBeNull();
    expect(minimumDetectableEffect({ ...conversion, nPerArm: 0 })).toBeNull();
    expect(sampleSizePerArm({ ...conversion, relativeEffect: 0 })).toBeNull();
    expect(sampleSizePerArm({ ...conversion, relativeEffect: 0.1, alpha: 1.2 })).toBeNull();
  });
});
