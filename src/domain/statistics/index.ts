import { bayesianEffect } from './bayesian.js';
import { cupedEffect, hasPreExposureData } from './cuped.js';
import { gbstatsMoments, relativeEffect } from './effects.js';
import { flagsmithEstimate, inferenceAllowed } from './flagsmith.js';
import { tTest, testSideFor } from './frequentist.js';
import type { TestSide } from './frequentist.js';
import { adjustPValues } from './multiple-testing.js';
import { DEFAULT_SEQUENTIAL_TAU, sequentialTest } from './sequential.js';
import { sampleRatioMismatchPValue } from './srm.js';
import type {
  AnalysisOptions,
  CupedBlock,
  ExpectedDirection,
  ExperimentAnalysis,
  ExperimentInput,
  FrequentistBlock,
  MetricInput,
  MetricResult,
  MultipleTestingCorrection,
  VariantAggregates,
  VariantInference,
} from './types.js';

export type * from './types.js';
export * from './distributions.js';
export { benjaminiHochbergAdjust, holmAdjust, adjustPValues } from './multiple-testing.js';
export { isSampleRatioMismatch, sampleRatioMismatchPValue, SRM_THRESHOLD } from './srm.js';
export { minimumDetectableEffect, sampleSizePerArm } from './power.js';
export type { PowerSettings } from './power.js';
export { FLAGSMITH_Z, MIN_ARM_SIZE, MIN_OCCURRENCE_CONVERSIONS } from './flagsmith.js';
export { DEFAULT_SEQUENTIAL_TAU } from './sequential.js';

export const DEFAULT_ALPHA = 0.05;
export const DEFAULT_CORRECTION: MultipleTestingCorrection = 'holm';

interface Settings {
  alpha: number;
  correction: MultipleTestingCorrection;
  sequentialTau: number;
}

/** Guardrails (`not_increase` / `not_decrease`) are tested one-sided for harm and kept out of the correction family. */
export function isGuardrail(expectedDirection: ExpectedDirection): boolean {
  return expectedDirection === 'not_increase' || expectedDirection === 'not_decrease';
}

/**
 * CONTRACT.md's results payload (without `window`) from per-variant aggregates. Pure: no I/O, options passed in.
 *
 * - `inference[variant]` is null under DOMAIN.md's minimum-sample rules; otherwise `lift`/`ciLow`/`ciHigh`/
 *   `chanceToWin` are Flagsmith's formula and the blocks follow gbstats.
 * - `frequentist.pValueAdjusted`: the family is every (metric, treatment) frequentist p-value of the non-guardrail
 *   metrics with inference, adjusted by `correction`; a guardrail's is its own one-sided p-value.
 * - One-sided intervals carry null for the unbounded side; `cuped` is null when neither arm has pre-exposure data
 *   and otherwise runs the same test as `frequentist`; `sequential` is two-sided for every metric (gbstats'
 *   SequentialTwoSidedTTest).
 * - With se = 0 (no variance at all) every block takes its point-mass limit: interval [lift, lift], p-value 0 (or 1
 *   without lift, ½ one-sided), chance 1/0/½, `df` null. gbstats instead gives up when either arm has zero
 *   variance; we compute whenever se > 0, where every formula is well defined.
 * - Should anything still come out non-finite (absurd magnitudes), that variant's inference (or its `cuped`) is null.
 *
 * Throws RangeError for invalid options or aggregates (negative or fractional counts, non-finite sums).
 */
export function analyzeExperiment(input: ExperimentInput, options: AnalysisOptions = {}): ExperimentAnalysis {
  const settings = resolveOptions(options);
  validateInput(input);
  const metrics = input.metrics.map((metric) => analyzeMetric(metric, input, settings));
  applyCorrection(metrics, settings.correction);
  return {
    srmPValue: sampleRatioMismatchPValue(input.exposures, input.variantAllocations, input.controlVariant),
    exposures: Object.fromEntries(Object.entries(input.exposures)),
    metrics,
  };
}

function resolveOptions(options: AnalysisOptions): Settings {
  const alpha = options.alpha ?? DEFAULT_ALPHA;
  const correction = options.correction ?? DEFAULT_CORRECTION;
  const sequentialTau = options.sequentialTau ?? DEFAULT_SEQUENTIAL_TAU;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`alpha must be between 0 and 1, got ${alpha}`);
  if (correction !== 'holm' && correction !== 'bh' && correction !== 'none') {
    throw new RangeError(`correction must be holm, bh or none, got ${String(correction)}`);
  }
  if (!(sequentialTau > 0 && Number.isFinite(sequentialTau))) throw new RangeError(`sequentialTau must be positive, got ${sequentialTau}`);
  return { alpha, correction, sequentialTau };
}

function analyzeMetric(metric: MetricInput, input: ExperimentInput, settings: Settings): MetricResult {
  const control = ownValue(metric.variants, input.controlVariant);
  const inference = treatmentKeys(metric, input).map(
    (key) => [key, inferVariant(metric, control, ownValue(metric.variants, key), settings)] as const,
  );
  return {
    metricId: metric.metricId,
    attachmentId: metric.attachmentId,
    aggregation: metric.aggregation,
    direction: metric.direction,
    expectedDirection: metric.expectedDirection,
    guardrail: isGuardrail(metric.expectedDirection),
    variants: Object.fromEntries(Object.entries(metric.variants).map(([key, { n, sum, sumSquares }]) => [key, { n, sum, sumSquares }])),
    inference: Object.fromEntries(inference),
  };
}

// Every variant other than control that the metric, the exposures or the allocation knows; those without data
// get null inference (n = 0 < 50).
function treatmentKeys(metric: MetricInput, input: ExperimentInput): string[] {
  const keys = new Set([...Object.keys(metric.variants), ...Object.keys(input.exposures), ...Object.keys(input.variantAllocations)]);
  keys.delete(input.controlVariant);
  return [...keys];
}

function inferVariant(
  metric: MetricInput,
  control: VariantAggregates | undefined,
  treatment: VariantAggregates | undefined,
  settings: Settings,
): VariantInference | null {
  if (!control || !treatment || !inferenceAllowed(control, treatment, metric.aggregation)) return null;
  const flagsmith = flagsmithEstimate(control, treatment, metric.direction);
  const effect = relativeEffect(gbstatsMoments(control, metric.aggregation), gbstatsMoments(treatment, metric.aggregation));
  const side = testSideFor(metric.expectedDirection);
  const test = tTest(effect.lift, effect.se, effect.df, side, settings.alpha);
  const inference: VariantInference = {
    lift: flagsmith.lift,
    ciLow: flagsmith.ciLow,
    ciHigh: flagsmith.ciHigh,
    chanceToWin: flagsmith.chanceToWin,
    bayesian: bayesianEffect(effect.lift, effect.se, settings.alpha, metric.direction),
    frequentist: { ...test, df: effect.df, pValueAdjusted: test.pValue },
    sequential: sequentialTest(effect.lift, effect.se, control.n + treatment.n, settings.alpha, settings.sequentialTau),
    cuped: cupedBlock(metric, control, treatment, side, settings),
  };
  return isJsonSafe(inference) ? inference : null;
}

function cupedBlock(
  metric: MetricInput,
  control: VariantAggregates,
  treatment: VariantAggregates,
  side: TestSide,
  settings: Settings,
): CupedBlock | null {
  if (!hasPreExposureData(control, treatment)) return null;
  const effect = cupedEffect(control, treatment, metric.aggregation);
  // Same test as the frequentist block (two-sided for goals, one-sided harm for guardrails).
  const test = tTest(effect.lift, effect.se, effect.df, side, settings.alpha);
  const block: CupedBlock = { theta: effect.theta, lift: effect.lift, ciLow: test.ciLow, ciHigh: test.ciHigh, pValue: test.pValue };
  return isJsonSafe(block) ? block : null;
}

function applyCorrection(metrics: MetricResult[], correction: MultipleTestingCorrection): void {
  const family: FrequentistBlock[] = [];
  for (const metric of metrics) {
    if (metric.guardrail) continue;
    for (const inference of Object.values(metric.inference)) if (inference) family.push(inference.frequentist);
  }
  const adjusted = adjustPValues(family.map((block) => block.pValue), correction);
  family.forEach((block, i) => {
    block.pValueAdjusted = adjusted[i]!;
  });
}

// Finite numbers and nulls only, all the way down.
function isJsonSafe(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value === 'object') return Object.values(value).every(isJsonSafe);
  return true;
}

// Own properties only: a variant called "constructor" must not find Object.prototype's.
function ownValue<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function validateInput(input: ExperimentInput): void {
  for (const [variant, count] of Object.entries(input.exposures)) requireCount(count, `exposures.${variant}`);
  for (const [variant, percent] of Object.entries(input.variantAllocations)) {
    if (!(typeof percent === 'number' && percent >= 0 && Number.isFinite(percent))) {
      throw new RangeError(`variantAllocations.${variant} must be a non-negative percentage, got ${String(percent)}`);
    }
  }
  input.metrics.forEach((metric, i) => {
    for (const [variant, arm] of Object.entries(metric.variants)) {
      const path = `metrics[${i}].variants.${variant}`;
      requireCount(arm.n, `${path}.n`);
      requireFinite(arm.sum, `${path}.sum`);
      requireFinite(arm.sumSquares, `${path}.sumSquares`);
      if (arm.pre) {
        requireCount(arm.pre.n, `${path}.pre.n`);
        if (arm.pre.n > arm.n) throw new RangeError(`${path}.pre.n cannot exceed n`);
        requireFinite(arm.pre.sumX, `${path}.pre.sumX`);
        requireFinite(arm.pre.sumX2, `${path}.pre.sumX2`);
        requireFinite(arm.pre.sumXY, `${path}.pre.sumXY`);
      }
    }
  });
}

function requireCount(value: unknown, path: string): void {
  if (!(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
    throw new RangeError(`${path} must be a non-negative integer, got ${String(value)}`);
  }
}

function requireFinite(value: unknown, path: string): void {
  if (!(typeof value === 'number' && Number.isFinite(value))) throw new RangeError(`${path} must be a finite number, got ${String(value)}`);
}
