import { z } from 'zod';
import { resourceId } from './metrics.js';

// Payloads of the results commands (CONTRACT.md "Commands"; rules in DOMAIN.md "Results").
export const resultsRefreshSchema = z.object({ experimentId: resourceId });
export const resultsGetSchema = z.object({ experimentId: resourceId });

/** Data of the `compute` jobs on the results queue. `attempt` counts the runs made so far (retries). */
export const computeJobSchema = z.object({ experimentId: z.number().int().positive(), attempt: z.number().int().min(0).optional() });
export type ComputeJob = z.infer<typeof computeJobSchema>;

export const computeJobId = (experimentId: number) => `results-${experimentId}`;
