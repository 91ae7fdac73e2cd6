import { describe, expect, it } from 'vitest';
import {
  chiSquareCdf,
  chiSquareSf,
  logGamma,
  normalCdf,
  normalPdf,
  normalQuantile,
  normalSf,
  regularizedBeta,
  regularizedGammaP,
  studentTCdf,
  studentTPdf,
  studentTQuantile,
  studentTSf,
} from '../../../src/domain/statistics/distributions.js';
import { expectClose, simpson } from './close.js';

// Reference values: scipy constants quoted in the brief, and mpmath at 40–50 significant digits (erfc, betainc,
// gammainc, loggamma; for df ≥ 1e5 the t tail by quadrature of ∫_u^∞ e^{−a w}(1 − e^{−w})^{−½} dw), rounded to double.

describe('normal distribution', () => {
  it('matches Φ(1.96) from scipy', () => {
    expectClose(normalCdf(1.96), 0.9750021048517795, 1e-15);
    expectClose(normalSf(1.96), 0.024997895148220435, 1e-14);
  });

  it.each([
    [0.5, 0.3085375387259869],
    [1.99, 0.023295467750211823],
    [2.01, 0.022215594429431485],
    [3, 0.0013498980316300946],
    [8, 6.220960574271784e-16],
    [10, 7.619853024160525e-24],
    [20, 2.7536241186062337e-89],
    [27.7, 3.4910784528195237e-169],
    [30, 4.906713927148187e-198],
    [33.3, 1.93050550592784e-243],
    [37.1, 1.4047119663106221e-301],
    [37.5, 4.605353009581955e-308],
  ])('keeps relative accuracy in the upper tail: Q(%d)', (z, expected) => {
    expectClose(normalSf(z), expected, 1e-14);
    expectClose(normalCdf(-z), expected, 1e-14);
  });

  it('is symmetric and sums to one', () => {
    for (const z of [0, 0.3, 1.7, 2.4, 5]) {
      expectClose(normalCdf(z) + normalSf(z), 1, 1e-15);
      expectClose(normalSf(-z), normalCdf(z), 1e-15);
    }
    expect(normalSf(0)).toBe(0.5);
  });

  it('agrees with Simpson integration of its density', () => {
    expectClose(normalSf(1.3), simpson(normalPdf, 1.3, 12), 1e-11);
    expectClose(normalSf(6), simpson(normalPdf, 6, 16), 1e-10);
  });

  it.each([
    [1e-300, -37.0470962993612],
    [1e-100, -21.273453560965326],
    [1e-20, -9.262340089798407],
    [0.001, -3.0902323061678136],
    [0.025, -1.9599639845400543],
    [0.3, -0.5244005127080408],
    [0.975, 1.9599639845400538],
    [0.999999, 4.753424308817087],
  ])('quantile Φ⁻¹(%d)', (p, expected) => {
    expectClose(normalQuantile(p), expected, 1e-14);
  });

  it('quantile inverts the cdf and handles the ends', () => {
    for (const p of [1e-250, 1e-9, 0.02425, 0.2, 0.5, 0.8, 0.9999]) expectClose(normalCdf(normalQuantile(p)), p, 1e-13);
    expect(normalQuantile(0.5)).toBe(0);
    expect(normalQuantile(0)).toBe(-Infinity);
    expect(normalQuantile(1)).toBe(Infinity);
    expect(normalQuantile(1.5)).toBeNaN();
  });
});

describe('Student t distribution', () => {
  it('matches scipy: t.sf(2.0, 10)', () => {
    expectClose(studentTSf(2, 10), 0.036694017385370196, 1e-14);
  });

  it.each([
    [20, 3, 0.00013660162512365586],
    [10000, 3, 1.102657751147905e-12],
    [100, 10, 1.224844777709915e-16],
    [10, 29.7, 2.5505723462179597e-11],
    [10000, 100, 3.9792648519577497e-302],
    [20, 1000, 2.0311442497623856e-75],
    [2, 3000, 0.02279513153547398],
    [20, 3000, 6.158159070033997e-84],
    [2, 1e5, 0.022751481728753232],
    [20, 1e5, 4.111746955327181e-89],
    [5, 1e7, 2.8665640375042696e-7],
    [20, 1e9, 2.7537348158163976e-89],
    [20, 1e12, 2.7536242293012506e-89],
  ])('survival at t = %d, df = %d keeps relative accuracy', (t, df, expected) => {
    // ~3e-16 per unit of |ln p|: the exponent of a 1e-302 tail is itself only known to ~1e-13 relatively.
    const tolerance = Math.max(1e-13, 3e-16 * Math.abs(Math.log(expected)));
    expectClose(studentTSf(t, df), expected, tolerance);
    expectClose(studentTCdf(-t, df), expected, tolerance);
  });

  it('has the closed forms of df = 1 (Cauchy) and df = 2', () => {
    for (const t of [0.2, 1, 3, 40, 1e6]) {
      expectClose(studentTSf(t, 1), Math.atan(1 / t) / Math.PI, 1e-13);
      const root = Math.sqrt(t * t + 2);
      expectClose(studentTSf(t, 2), 1 / (root * (root + t)), 1e-13); // (1 − t/√(t² + 2))/2 without the cancellation
    }
  });

  it('agrees with Simpson integration of its density for a fractional df', () => {
    const df = 7.3;
    expectClose(studentTSf(1.1, df), simpson((x) => studentTPdf(x, df), 1.1, 400, 400000), 1e-9);
  });

  it('tends to the normal as df grows', () => {
    expectClose(studentTSf(2, Infinity), normalSf(2), 1e-15);
    expect(Math.abs(studentTSf(2, 1e12) - normalSf(2))).toBeLessThan(1e-12);
    expect(studentTSf(2, 1e3)).toBeGreaterThan(normalSf(2));
  });

  it.each([
    [0.975, 10, 2.2281388519862744],
    [0.95, 30, 1.6972608865939574],
    [0.999, 1, 318.30883898555015],
    [0.025, 2, -4.302652729749464],
    [1e-12, 3, -10331.108244292485],
    [1e-6, 5, -24.771029720515944],
    [0.7, 123.4, 0.525757851754396],
    [0.975, 1e6, 1.9599663568141066],
  ])('quantile at p = %d, df = %d', (p, df, expected) => {
    expectClose(studentTQuantile(p, df), expected, 1e-12);
  });

  it('quantile inverts the cdf far into the tail', () => {
    for (const df of [1.5, 3, 12.25, 2500, 4e6]) {
      for (const p of [1e-200, 1e-8, 0.05, 0.4]) {
        expectClose(studentTCdf(studentTQuantile(p, df), df), p, 1e-12);
      }
    }
    expect(studentTQuantile(0.5, 9)).toBe(0);
  });
});

describe('chi-square distribution', () => {
  it('matches scipy: chi2.sf(3.84, 1)', () => {
    expectClose(chiSquareSf(3.84, 1), 0.05004352124870519, 1e-14);
  });

  it.each([
    [200, 3, 4.2185411071920426e-43],
    [1000, 10, 1.8702907209159498e-208],
    [1400, 1, 2.1010145162642176e-306],
    [10, 10, 0.4404932850652124],
    [0.1, 5, 0.9998376833880774],
    [100, 50, 3.454931382984864e-5],
    [11000, 10000, 3.618329558096479e-12],
    [15000, 10000, 5.91586882905196e-208],
  ])('survival at x = %d, k = %d keeps relative accuracy', (x, k, expected) => {
    expectClose(chiSquareSf(x, k), expected, 1e-12);
  });

  it('has the closed forms of k = 2 (exponential) and k = 1 (squared normal)', () => {
    for (const x of [0.01, 1, 7.5, 60, 700]) {
      expectClose(chiSquareSf(x, 2), Math.exp(-x / 2), 1e-13);
      expectClose(chiSquareSf(x, 1), 2 * normalSf(Math.sqrt(x)), 1e-13);
      expectClose(chiSquareCdf(x, 4) + chiSquareSf(x, 4), 1, 1e-15);
    }
    expect(chiSquareSf(0, 3)).toBe(1);
  });
});

describe('special functions', () => {
  it.each([
    [0.001, 6.907178885383853],
    [0.5, 0.5723649429247001],
    [1.5, -0.12078223763524522],
    [3.3, 0.9870985778947344],
    [10.5, 13.940625219403763],
    [1e6, 12815504.569147611],
  ])('ln Γ(%d)', (x, expected) => {
    expectClose(logGamma(x), expected, 1e-13);
  });

  it('incomplete gamma and beta have their elementary special cases', () => {
    // P(1, x) = 1 − e^{−x}; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b.
    expectClose(regularizedGammaP(1, 0.3), -Math.expm1(-0.3), 1e-14);
    expectClose(regularizedBeta(0.3, 2.5, 1), 0.3 ** 2.5, 1e-14);
    expectClose(regularizedBeta(0.8, 1, 3.5), 1 - 0.2 ** 3.5, 1e-14);
  });
});
