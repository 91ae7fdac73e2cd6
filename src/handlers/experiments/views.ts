import type { Knex } from 'knex';
import type { Experiment as ExperimentBody } from '@experimentation-worker/client/contracts';
import type { Experiment } from '../../models/experiment.js';
import { attachmentViewsByExperiment, type AttachmentView } from '../../models/experiment-metric.js';

// How an experiment appears in replies and events: with its attached metrics (the contract's experimentSchema).

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const experimentView = (e: Experiment, metrics: AttachmentView[]): ExperimentBody => ({
  id: e.id,
  uuid: e.uuid,
  featureId: e.featureId,
  name: e.name,
  hypothesis: e.hypothesis,
  status: e.status,
  exposureEvent: e.exposureEvent,
  controlVariant: e.controlVariant,
  startedAt: iso(e.startedAt),
  endedAt: iso(e.endedAt),
  createdAt: e.createdAt.toISOString(),
  updatedAt: e.updatedAt.toISOString(),
  metrics,
});
export type ExperimentView = ReturnType<typeof experimentView>;

/** Views of `experiments` in their order, loading all their attachments in one query. */
export async function experimentViews(trx: Knex.Transaction, experiments: Experiment[]): Promise<ExperimentView[]> {
  const attachments = await attachmentViewsByExperiment(trx, experiments.map((e) => e.id));
  return experiments.map((e) => experimentView(e, attachments.get(e.id) ?? []));
}

export async function loadExperimentView(trx: Knex.Transaction, experiment: Experiment): Promise<ExperimentView> {
  const [view] = await experimentViews(trx, [experiment]);
  return view!;
}
