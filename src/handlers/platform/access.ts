import { accessGrantSchema } from '../../contracts/platform.js';
import { AccessGrant } from '../../models/platform.js';
import { defineHandler } from '../types.js';
import { grantView } from './views.js';

export const grantAccess = defineHandler({
  type: 'access.grant',
  scope: 'platform',
  payload: accessGrantSchema,
  async handle({ trx, now }, p) {
    // Granting twice is a no-op that still answers 200.
    await AccessGrant.query(trx).insert({ ...p, createdAt: now }).onConflict(['user_id', 'scope', 'scope_id', 'role']).ignore();
    const view = grantView(p as AccessGrant);
    return {
      status: 200,
      body: view,
      events: [{ type: 'access.granted', data: view, environment: p.scope === 'environment' ? p.scopeId : null, key: p.scopeId }],
      audit: [{ action: 'grant', resourceType: 'access', resourceId: `${p.userId}:${p.scope}:${p.scopeId}`, before: null, after: view }],
    };
  },
});

export const revokeAccess = defineHandler({
  type: 'access.revoke',
  scope: 'platform',
  payload: accessGrantSchema,
  async handle({ trx }, p) {
    // Revoking a grant that does not exist is still 204 (DOMAIN.md).
    const deleted = await AccessGrant.query(trx).delete().where({ user_id: p.userId, scope: p.scope, scope_id: p.scopeId, role: p.role });
    const view = grantView(p as AccessGrant);
    return {
      status: 204,
      body: null,
      events: deleted ? [{ type: 'access.revoked', data: view, environment: p.scope === 'environment' ? p.scopeId : null, key: p.scopeId }] : [],
      audit: deleted ? [{ action: 'revoke', resourceType: 'access', resourceId: `${p.userId}:${p.scope}:${p.scopeId}`, before: view, after: null }] : [],
    };
  },
});
