import { projectUpsertSchema } from '../../contracts/platform.js';
import { Organisation, Project } from '../../models/platform.js';
import { defineHandler, invalid } from '../types.js';
import { projectView } from './views.js';

export const upsertProject = defineHandler({
  type: 'project.upsert',
  scope: 'platform',
  payload: projectUpsertSchema,
  async handle({ trx, now }, p) {
    if (!(await Organisation.query(trx).findById(p.organisationId))) {
      throw invalid({ organisationId: [`Invalid pk "${p.organisationId}" - object does not exist.`] });
    }
    const before = await Project.query(trx).findById(p.id).forUpdate();
    const row = { id: p.id, organisationId: p.organisationId, name: p.name, updatedAt: now };
    const after = before
      ? await Project.query(trx).patchAndFetchById(p.id, row)
      : await Project.query(trx).insertAndFetch({ ...row, createdAt: now });
    const view = projectView(after);
    return {
      status: 200,
      body: view,
      events: [{ type: 'project.upserted', data: view, environment: null, key: String(p.organisationId) }],
      audit: [{ action: before ? 'update' : 'create', resourceType: 'project', resourceId: p.id, before: before ? projectView(before) : null, after: view }],
    };
  },
});
