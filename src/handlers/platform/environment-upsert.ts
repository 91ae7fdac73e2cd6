import { environmentUpsertSchema } from '../../contracts/platform.js';
import { Environment, Project } from '../../models/platform.js';
import { defineHandler, invalid } from '../types.js';
import { environmentView } from './views.js';

export const upsertEnvironment = defineHandler({
  type: 'environment.upsert',
  scope: 'platform',
  payload: environmentUpsertSchema,
  async handle({ trx, now }, p) {
    if (!(await Project.query(trx).findById(p.projectId))) {
      throw invalid({ projectId: [`Invalid pk "${p.projectId}" - object does not exist.`] });
    }
    const before = await Environment.query(trx).findOne({ key: p.key }).forUpdate();
    const after = before
      ? await Environment.query(trx).patchAndFetchById(before.id, { projectId: p.projectId, name: p.name, updatedAt: now })
      : await Environment.query(trx).insertAndFetch({ key: p.key, projectId: p.projectId, name: p.name, createdAt: now, updatedAt: now });
    const view = environmentView(after);
    return {
      status: 200,
      body: view,
      events: [{ type: 'environment.upserted', data: view, environment: p.key }],
      audit: [{ action: before ? 'update' : 'create', resourceType: 'environment', resourceId: p.key, before: before ? environmentView(before) : null, after: view }],
    };
  },
});
