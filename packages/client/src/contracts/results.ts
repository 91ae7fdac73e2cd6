import { z } from 'zod';
import { EXPECTED_DIRECTIONS } from './experiments.js';
import { METRIC_AGGREGATIONS, METRIC_DIRECTIONS, resourceId } from './metrics.js';

// Payloads of the results commands, and the results as replies and events show them.
export const resultsRefreshSchema = z.object({ experimentId: resourceId });
export const resultsGetSchema = z.object({ experimentId: resourceId });

const interval = { ciLow: z.number(), ciHigh: z.number() };
// A one-sided test's unbounded end is null (JSON has no Infinity).
const openInterval = { ciLow: z.number().nullable(), ciHigh: z.number().nullable() };

export const variantInferenceSchema = z.object({
  /** Flagsmith's default: relative lift, its 95 % interval and chance to win. */
  lift: z.number(),
  ...interval,
  chanceToWin: z.number(),
  bayesian: z.object({ chanceToWin: z.number(), ...interval, riskControl: z.number(), riskTreatment: z.number() }),
  frequentist: z.object({ pValue: z.number(), ...openInterval, df: z.number().nullable(), pValueAdjusted: z.number() }),
  sequential: z.object({ pValue: z.number(), ...interval }),
  cuped: z.object({ theta: z.number(), lift: z.number(), ...openInterval, pValue: z.number() }).nullable(),
});

export const metricResultSchema = z.object({
  metricId: z.number().int(),
  attachmentId: z.number().int(),
  aggregation: z.enum(METRIC_AGGREGATIONS),
  direction: z.enum(METRIC_DIRECTIONS),
  expectedDirection: z.enum(EXPECTED_DIRECTIONS),
  guardrail: z.boolean(),
  variants: z.record(z.string(), z.object({ n: z.number(), sum: z.number(), sumSquares: z.number() })),
  /** Per treatment variant, against the control; null below the minimum sample. */
  inference: z.record(z.string(), variantInferenceSchema.nullable()),
});

export const resultsPayloadSchema = z.object({
  /** Sample-ratio-mismatch p-value; null below 100 exposures. */
  srmPValue: z.number().nullable(),
  exposures: z.record(z.string(), z.number().int()),
  window: z.object({ from: z.string(), to: z.string() }),
  metrics: z.array(metricResultSchema),
});
export type ResultsPayload = z.infer<typeof resultsPayloadSchema>;

/** An experiment's stored results; a failed computation keeps the last good payload and sets `lastErrorAt`. */
export const resultsSchema = z.object({
  asOf: z.string().nullable(),
  lastErrorAt: z.string().nullable(),
  refreshRequestedAt: z.string().nullable(),
  isFinal: z.boolean(),
  payload: resultsPayloadSchema.nullable(),
});
export type Results = z.infer<typeof resultsSchema>;

export const resultsGetBodySchema = z.object({ results: resultsSchema.nullable() });
export const resultsRefreshBodySchema = z.object({ experimentId: z.number().int(), refreshRequestedAt: z.string() });
