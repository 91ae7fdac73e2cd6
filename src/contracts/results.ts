import { z } from 'zod';

// Payloads of the results commands are in the client package (packages/client/src/contracts/results.ts); the
// results queue's job data is the worker's own.
export { resultsGetSchema, resultsRefreshSchema } from '@experimentation-worker/client/contracts';

/** Data of the `compute` jobs on the results queue. `attempt` counts the runs made so far (retries). */
export const computeJobSchema = z.object({ experimentId: z.number().int().positive(), attempt: z.number().int().min(0).optional() });
export type ComputeJob = z.infer<typeof computeJobSchema>;

export const computeJobId = (experimentId: number) => `results-${experimentId}`;
