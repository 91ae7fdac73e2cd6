import { expect } from 'vitest';

/** |actual − expected| ≤ tolerance·|expected| (absolute when expected is 0); fails on null, NaN and ±∞. */
export function expectClose(actual: number | null | undefined, expected: number, tolerance = 1e-12): void {
  expect(typeof actual === 'number' && Number.isFinite(actual), `expected a finite number, got ${actual}`).toBe(true);
  const error = Math.abs((actual as number) - expected);
  const allowed = expected === 0 ? tolerance : tolerance * Math.abs(expected);
  expect(error, `${actual} vs ${expected}: relative error ${(error / Math.abs(expected || 1)).toExponential(2)}`).toBeLessThanOrEqual(allowed);
}

/** Composite Simpson's rule on [a, b] with `intervals` (even) panels: a second method for integrals of densities. */
export function simpson(f: (x: number) => number, a: number, b: number, intervals = 20000): number {
  const h = (b - a) / intervals;
  let sum = f(a) + f(b);
  for (let i = 1; i < intervals; i++) sum += (i % 2 === 1 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}
