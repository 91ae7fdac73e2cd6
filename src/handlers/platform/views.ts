import type { AccessGrant, Environment, Feature, Organisation, Project } from '../../models/platform.js';

// How platform resources appear in replies and events.
export const organisationView = (o: Organisation) => ({ id: o.id, name: o.name, experimentationEnabled: o.experimentationEnabled });
export const projectView = (p: Project) => ({ id: p.id, organisationId: p.organisationId, name: p.name });
export const environmentView = (e: Environment) => ({ id: e.id, key: e.key, projectId: e.projectId, name: e.name });
export const featureView = (f: Feature) => ({ id: f.id, projectId: f.projectId, name: f.name, type: f.type, variants: f.variants });
export const grantView = (g: AccessGrant) => ({ userId: g.userId, scope: g.scope, scopeId: g.scopeId, role: g.role });
