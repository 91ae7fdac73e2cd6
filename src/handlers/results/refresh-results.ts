import { computeJobId, resultsRefreshSchema } from '../../contracts/results.js';
import { RESULTS_MESSAGES, refreshDecision, throttledMessage } from '../../domain/results-rules.js';
import { ExperimentResult } from '../../models/results.js';
import { scopeOf } from '../environment-scope.js';
import { findLiveExperiment } from '../../models/experiment.js';
import { CommandRejection, defineHandler, invalid, notFound } from '../types.js';

/**
 * experiment.results.refresh → 202 and a compute job (DOMAIN.md "Results"). The results row is locked (or created)
 * first, so two refreshes racing for the same experiment are decided one after the other: one is accepted, the
 * other throttled. The job id is per experiment: while a compute is queued or running, BullMQ keeps a second one
 * out; the results worker removes finished jobs so the next refresh queues again.
 */
export const refreshResults = defineHandler({
  type: 'experiment.results.refresh',
  scope: 'environment',
  payload: resultsRefreshSchema,
  async handle(ctx, p) {
    const { trx, now } = ctx;
    const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.experimentId).forShare();
    if (!experiment) throw notFound();
    if (experiment.startedAt === null) throw invalid({ detail: RESULTS_MESSAGES.notStarted });
    await trx.raw('insert into experiment_results (experiment_id) values (?) on conflict (experiment_id) do nothing', [experiment.id]);
    const row = await ExperimentResult.query(trx).where('experiment_id', experiment.id).forUpdate().first();
    const decision = refreshDecision(
      { startedAt: experiment.startedAt, endedAt: experiment.endedAt, results: row ?? null },
      now,
      ctx.config.RESULTS_REFRESH_MIN_INTERVAL_S,
    );
    if (decision.kind === 'not_started') throw invalid({ detail: RESULTS_MESSAGES.notStarted });
    if (decision.kind === 'final') throw invalid({ detail: RESULTS_MESSAGES.final });
    if (decision.kind === 'throttled') {
      throw new CommandRejection(429, { detail: throttledMessage(decision.retryAfter), retryAfter: decision.retryAfter });
    }
    const before = row ? { refreshRequestedAt: row.refreshRequestedAt?.toISOString() ?? null } : null;
    await ExperimentResult.query(trx).where('experiment_id', experiment.id).patch({ refreshRequestedAt: now, updatedAt: now });
    const body = { experimentId: experiment.id, refreshRequestedAt: now.toISOString() };
    return {
      status: 202,
      body,
      audit: [{ action: 'results.refresh', resourceType: 'experiment', resourceId: experiment.id, before, after: body }],
      jobs: [{ queue: 'results', name: 'compute', data: { experimentId: experiment.id }, jobId: computeJobId(experiment.id) }],
    };
  },
});
