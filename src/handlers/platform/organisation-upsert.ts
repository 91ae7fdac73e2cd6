import { organisationUpsertSchema } from '../../contracts/platform.js';
import { Organisation } from '../../models/platform.js';
import { defineHandler } from '../types.js';
import { organisationView } from './views.js';

export const upsertOrganisation = defineHandler({
  type: 'organisation.upsert',
  scope: 'platform',
  payload: organisationUpsertSchema,
  async handle({ trx, now }, p) {
    const before = await Organisation.query(trx).findById(p.id).forUpdate();
    const row = { id: p.id, name: p.name, experimentationEnabled: p.experimentationEnabled, updatedAt: now };
    const after = before
      ? await Organisation.query(trx).patchAndFetchById(p.id, row)
      : await Organisation.query(trx).insertAndFetch({ ...row, createdAt: now });
    const view = organisationView(after);
    return {
      status: 200,
      body: view,
      events: [{ type: 'organisation.upserted', data: view, environment: null, key: String(p.id) }],
      audit: [{ action: before ? 'update' : 'create', resourceType: 'organisation', resourceId: p.id, before: before ? organisationView(before) : null, after: view }],
    };
  },
});
