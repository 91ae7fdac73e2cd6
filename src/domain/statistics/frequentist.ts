import { studentTQuantile, studentTSf } from './distributions.js';
import type { ExpectedDirection } from './types.js';

// gbstats' TwoSidedTTest / OneSidedTreatmentGreaterTTest / OneSidedTreatmentLesserTTest on a relative effect.

/** `greater`: H1 is "treatment > control"; `lesser`: "treatment < control". */
export type TestSide = 'two-sided' | 'greater' | 'lesser';

export interface TestResult {
  pValue: number;
  /** null stands for −∞ (JSON has no Infinity). */
  ciLow: number | null;
  /** null stands for +∞. */
  ciHigh: number | null;
}

/**
 * Goals are tested two-sided. A guardrail is tested one-sided for harm: `not_increase` is harmed by an increase
 * (H1: treatment > control), `not_decrease` by a decrease (H1: treatment < control). The metric's `direction`
 * plays no part: the attachment says which way is harm.
 */
export function testSideFor(expectedDirection: ExpectedDirection): TestSide {
  if (expectedDirection === 'not_increase') return 'greater';
  if (expectedDirection === 'not_decrease') return 'lesser';
  return 'two-sided';
}

/**
 * The test statistic lift/se. With se = 0 the estimate has no spread: ±∞ by the sign of the lift, 0 when there is
 * no lift (gbstats' convention), so p-values and intervals take their limits instead of NaN.
 */
export function criticalValue(lift: number, se: number): number {
  if (se > 0) return lift / se;
  if (lift === 0) return 0;
  return lift > 0 ? Infinity : -Infinity;
}

/** Welch t-test of a relative effect; intervals at 1 − alpha, one-sided for one-sided tests. */
export function tTest(lift: number, se: number, df: number | null, side: TestSide, alpha: number): TestResult {
  // df is null only when se = 0, where the statistic is 0 or ±∞ and any df gives the same answer.
  const dof = df ?? Infinity;
  const t = criticalValue(lift, se);
  if (side === 'two-sided') {
    const halfWidth = se > 0 ? studentTQuantile(1 - alpha / 2, dof) * se : 0;
    return { pValue: Math.min(1, 2 * studentTSf(Math.abs(t), dof)), ciLow: lift - halfWidth, ciHigh: lift + halfWidth };
  }
  const halfWidth = se > 0 ? studentTQuantile(1 - alpha, dof) * se : 0;
  if (side === 'greater') return { pValue: studentTSf(t, dof), ciLow: lift - halfWidth, ciHigh: null };
  return { pValue: studentTSf(-t, dof), ciLow: null, ciHigh: lift + halfWidth };
}
