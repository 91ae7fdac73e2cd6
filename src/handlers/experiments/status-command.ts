import { experimentIdSchema } from '../../contracts/experiments.js';
import { transition, TRANSITION_REJECTED, type StatusAction } from '../../domain/experiment-status.js';
import { Experiment, findLiveExperiment } from '../../models/experiment.js';
import { initResultsState } from '../../results/results-state.js';
import { scopeOf } from '../environment-scope.js';
import { defineHandler, invalid, notFound } from '../types.js';
import { experimentView, loadExperimentView } from './views.js';

const eventTypes: Record<StatusAction, string> = {
  start: 'experiment.started',
  pause: 'experiment.paused',
  complete: 'experiment.completed',
};

/** experiment.start / .pause / .complete: one move of the status machine (domain/experiment-status.ts). */
export function statusCommand(action: StatusAction) {
  return defineHandler({
    type: `experiment.${action}`,
    scope: 'environment',
    payload: experimentIdSchema,
    async handle(ctx, p) {
      const { trx, now } = ctx;
      // FOR UPDATE: concurrent moves of one experiment apply one after the other, each to the latest status.
      const experiment = await findLiveExperiment(trx, scopeOf(ctx).environment.id, p.id).forUpdate();
      if (!experiment) throw notFound();
      const next = transition(experiment, action, now);
      if (!next) throw invalid({ detail: TRANSITION_REJECTED });
      const before = await loadExperimentView(trx, experiment);
      const updated = await Experiment.query(trx).patchAndFetchById(experiment.id, { ...next, updatedAt: now });
      // The first start opens the results window: its results state starts with it, kept by the ingester from now on.
      if (action === 'start' && experiment.startedAt === null) await initResultsState(trx, experiment.id, ctx.config.CUPED_LOOKBACK_DAYS);
      const after = experimentView(updated, before.metrics);
      return {
        status: 200,
        body: after,
        events: [{ type: eventTypes[action], data: after }],
        audit: [{ action, resourceType: 'experiment', resourceId: experiment.id, before, after }],
      };
    },
  });
}
