// Inputs and outputs of the results statistics. The output mirrors CONTRACT.md "Results payload" field for field
// (without `window`, which the caller adds). Every number in it is finite or null, so it survives JSON.

export type Aggregation = 'count' | 'sum' | 'mean' | 'occurrence';
export type MetricDirection = 'up' | 'down' | 'informational';
export type ExpectedDirection = 'increase' | 'decrease' | 'not_increase' | 'not_decrease';
export type MultipleTestingCorrection = 'holm' | 'bh' | 'none';

/** Pre-exposure (CUPED) aggregates of one variant: x is an identity's metric value before exposure, 0 if none. */
export interface PreExposureAggregates {
  /** Identities of the variant that have any pre-exposure data. */
  n: number;
  sumX: number;
  sumX2: number;
  /** Σ x·y, y being the identity's metric value in the window. */
  sumXY: number;
}

/** Per-variant aggregates of one metric over the variant's n exposed identities. */
export interface VariantAggregates {
  n: number;
  sum: number;
  sumSquares: number;
  pre?: PreExposureAggregates;
}

export interface MetricInput {
  metricId: number;
  attachmentId: number;
  aggregation: Aggregation;
  direction: MetricDirection;
  expectedDirection: ExpectedDirection;
  variants: Record<string, VariantAggregates>;
}

export interface ExperimentInput {
  controlVariant: string;
  /** The feature's variant percentage allocations; the control variant gets 100 − the sum of the others. */
  variantAllocations: Record<string, number>;
  /** Exposed identities per variant. */
  exposures: Record<string, number>;
  metrics: MetricInput[];
}

export interface AnalysisOptions {
  /** Significance level of the gbstats-style blocks; intervals are at 1 − alpha. Default 0.05. */
  alpha?: number;
  /** Multiple-testing correction of `frequentist.pValueAdjusted`. Default 'holm'. */
  correction?: MultipleTestingCorrection;
  /** Sequential tuning parameter τ (the sample size where the confidence sequence is tightest). Default 5000. */
  sequentialTau?: number;
}

export interface BayesianBlock {
  chanceToWin: number;
  ciLow: number;
  ciHigh: number;
  riskControl: number;
  riskTreatment: number;
}

/** For a guardrail's one-sided test one bound is unbounded; JSON has no Infinity, so that bound is null. */
export interface FrequentistBlock {
  pValue: number;
  ciLow: number | null;
  ciHigh: number | null;
  /** Welch–Satterthwaite degrees of freedom; null when both arms have zero variance. */
  df: number | null;
  pValueAdjusted: number;
}

export interface SequentialBlock {
  pValue: number;
  ciLow: number;
  ciHigh: number;
}

export interface CupedBlock {
  theta: number;
  lift: number;
  ciLow: number | null;
  ciHigh: number | null;
  pValue: number;
}

export interface VariantInference {
  lift: number;
  ciLow: number;
  ciHigh: number;
  chanceToWin: number;
  bayesian: BayesianBlock;
  frequentist: FrequentistBlock;
  sequential: SequentialBlock;
  cuped: CupedBlock | null;
}

export interface VariantSummary {
  n: number;
  sum: number;
  sumSquares: number;
}

export interface MetricResult {
  metricId: number;
  attachmentId: number;
  aggregation: Aggregation;
  direction: MetricDirection;
  expectedDirection: ExpectedDirection;
  guardrail: boolean;
  variants: Record<string, VariantSummary>;
  inference: Record<string, VariantInference | null>;
}

/** CONTRACT.md's results payload without `window`. */
export interface ExperimentAnalysis {
  srmPValue: number | null;
  exposures: Record<string, number>;
  metrics: MetricResult[];
}
