import { describe, expect, it } from 'vitest';
import { expectedWeights, isSampleRatioMismatch, sampleRatioMismatchPValue } from '../../../src/domain/statistics/srm.js';
import { expectClose } from './close.js';

describe('sample ratio mismatch', () => {
  it('two arms at 50/50: χ² = 2·0.5²/1000.5 with 1 df', () => {
    // p = erfc(√(χ²/2)), mpmath.
    expectClose(sampleRatioMismatchPValue({ control: 1001, variant_a: 1000 }, { variant_a: 50 }, 'control'), 0.9821647030211968, 1e-13);
  });

  it('three arms, control gets the remaining 40 %: χ² = 6 with 2 df, p = e⁻³', () => {
    const p = sampleRatioMismatchPValue({ control: 400, a: 330, b: 270 }, { a: 30, b: 30 }, 'control');
    expectClose(p, Math.exp(-3), 1e-14);
    expect(isSampleRatioMismatch(p)).toBe(false);
  });

  it('flags a 600/400 split of a 50/50 allocation', () => {
    const p = sampleRatioMismatchPValue({ control: 600, variant_a: 400 }, { variant_a: 50 }, 'control');
    expectClose(p, 2.539628589470865e-10, 1e-12); // χ² = 40, erfc(√20)
    expect(isSampleRatioMismatch(p)).toBe(true);
  });

  it('needs 100 exposures in the tested arms', () => {
    expect(sampleRatioMismatchPValue({ control: 50, variant_a: 49 }, { variant_a: 50 }, 'control')).toBeNull();
    expect(sampleRatioMismatchPValue({ control: 50, variant_a: 50 }, { variant_a: 50 }, 'control')).toBe(1);
    expect(isSampleRatioMismatch(null)).toBe(false);
  });

  it('leaves out arms with no expected weight and variants the allocation does not know', () => {
    // b has 0 %: its 37 exposures and the stray variant's are not counted, the rest is an exact 50/50.
    expect(sampleRatioMismatchPValue({ control: 500, a: 500, b: 37, stray: 12 }, { a: 50, b: 0 }, 'control')).toBe(1);
    // Allocations of 100 % leave the control nothing: it is left out too.
    expect(sampleRatioMismatchPValue({ control: 9, a: 60, b: 40 }, { a: 50, b: 50 }, 'control')).toBeLessThan(0.05);
    expect(sampleRatioMismatchPValue({ control: 100, a: 0 }, { a: 0 }, 'control')).toBeNull();
  });

  it('gives the control the rest of 100 % and ignores an allocation listed for it', () => {
    expect([...expectedWeights({ a: 20, b: 30, control: 99 }, 'control')]).toEqual([
      ['a', 20],
      ['b', 30],
      ['control', 50],
    ]);
  });
});
