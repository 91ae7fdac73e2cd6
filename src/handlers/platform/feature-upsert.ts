import { featureUpsertSchema } from '../../contracts/platform.js';
import { Feature, Project } from '../../models/platform.js';
import { defineHandler, invalid } from '../types.js';
import { featureView } from './views.js';

export const upsertFeature = defineHandler({
  type: 'feature.upsert',
  scope: 'platform',
  payload: featureUpsertSchema,
  async handle({ trx, now }, p) {
    const project = await Project.query(trx).findById(p.projectId);
    if (!project) throw invalid({ projectId: [`Invalid pk "${p.projectId}" - object does not exist.`] });
    const keys = p.variants.map((v) => v.key);
    if (new Set(keys).size !== keys.length) throw invalid({ variants: ['Variant keys must be unique.'] });
    if (p.variants.reduce((s, v) => s + v.percentageAllocation, 0) > 100) {
      throw invalid({ variants: ['Total percentage allocation for feature must be less than or equal to 100.'] });
    }
    const before = await Feature.query(trx).findById(p.id).forUpdate();
    const row = { id: p.id, projectId: p.projectId, name: p.name, type: p.type, variants: p.variants, updatedAt: now };
    const after = before
      ? await Feature.query(trx).patchAndFetchById(p.id, row)
      : await Feature.query(trx).insertAndFetch({ ...row, createdAt: now });
    const view = featureView(after);
    return {
      status: 200,
      body: view,
      events: [{ type: 'feature.upserted', data: view, environment: null, key: String(project.organisationId) }],
      audit: [{ action: before ? 'update' : 'create', resourceType: 'feature', resourceId: p.id, before: before ? featureView(before) : null, after: view }],
    };
  },
});
