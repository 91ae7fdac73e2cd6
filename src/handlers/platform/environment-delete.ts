import { environmentDeleteSchema } from '../../contracts/platform.js';
import { Environment } from '../../models/platform.js';
import { defineHandler, notFound } from '../types.js';
import { environmentView } from './views.js';

// Deletes the environment row; foreign keys cascade to its metrics, experiments, attachments and results.
export const deleteEnvironment = defineHandler({
  type: 'environment.delete',
  scope: 'platform',
  payload: environmentDeleteSchema,
  async handle({ trx }, p) {
    const before = await Environment.query(trx).findOne({ key: p.key }).forUpdate();
    if (!before) throw notFound();
    await Environment.query(trx).deleteById(before.id);
    return {
      status: 204,
      body: null,
      events: [{ type: 'environment.deleted', data: environmentView(before), environment: p.key }],
      audit: [{ action: 'delete', resourceType: 'environment', resourceId: p.key, before: environmentView(before), after: null }],
    };
  },
});
