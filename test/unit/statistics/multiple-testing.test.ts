import { describe, expect, it } from 'vitest';
import { adjustPValues, benjaminiHochbergAdjust, holmAdjust } from '../../../src/domain/statistics/multiple-testing.js';
import { expectClose } from './close.js';

// Benjamini & Hochberg (1995), section 4: fifteen p-values from a study of myocardial infarction treatment.
// At 0.05, Bonferroni and Holm reject the three smallest; BH rejects the four smallest.
const BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.324, 0.4262, 0.5719, 0.6528, 0.759, 1];

describe('Holm', () => {
  it('adjusts a small example by hand', () => {
    // Sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → running max 0.02, 0.03, 0.06, 0.06.
    const adjusted = holmAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.03, 0.06, 0.06, 0.02].forEach((expected, i) => expectClose(adjusted[i], expected, 1e-14));
  });

  it('rejects the three smallest of the Benjamini–Hochberg example', () => {
    const adjusted = holmAdjust(BH_1995);
    expect(adjusted.filter((p) => p <= 0.05)).toHaveLength(3);
    expectClose(adjusted[3], 0.0095 * 12, 1e-14);
    expect(adjusted.at(-1)).toBe(1);
  });
});

describe('Benjamini–Hochberg', () => {
  it('adjusts a small example by hand', () => {
    // Sorted 0.005, 0.01, 0.03, 0.04 → ×4/1, ×4/2, ×4/3, ×4/4 = 0.02, 0.02, 0.04, 0.04, running min from the top.
    const adjusted = benjaminiHochbergAdjust([0.01, 0.04, 0.03, 0.005]);
    [0.02, 0.04, 0.04, 0.02].forEach((expected, i) => expectClose(adjusted[i], expected, 1e-14));
  });

  it('rejects the four smallest of its own 1995 example', () => {
    const adjusted = benjaminiHochbergAdjust(BH_1995);
    expect(adjusted.filter((p) => p <= 0.05)).toHaveLength(4);
    expectClose(adjusted[3], (0.0095 * 15) / 4, 1e-14);
    expectClose(adjusted[4], (0.0201 * 15) / 5, 1e-14);
    expectClose(adjusted[5], (0.0298 * 15) / 7, 1e-14); // 0.0278·15/6 = 0.0695 is above rank 7's 0.0639: it inherits that
  });
});

describe('adjustPValues', () => {
  it('leaves p-values alone without correction and keeps input order for ties', () => {
    expect(adjustPValues([0.2, 0.01], 'none')).toEqual([0.2, 0.01]);
    expect(adjustPValues([0.02, 0.02, 0.5], 'holm')).toEqual([0.06, 0.06, 0.5]);
    expect(adjustPValues([], 'bh')).toEqual([]);
  });
});
