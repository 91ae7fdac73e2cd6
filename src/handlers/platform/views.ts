import type { AccessGrantBody, Environment as EnvironmentBody, Feature as FeatureBody, Organisation as OrganisationBody, Project as ProjectBody } from '@experimentation-worker/client/contracts';
import type { AccessGrant, Environment, Feature, Organisation, Project } from '../../models/platform.js';

// How platform resources appear in replies and events (the contract's resource schemas).
export const organisationView = (o: Organisation): OrganisationBody => ({ id: o.id, name: o.name, experimentationEnabled: o.experimentationEnabled });
export const projectView = (p: Project): ProjectBody => ({ id: p.id, organisationId: p.organisationId, name: p.name });
export const environmentView = (e: Environment): EnvironmentBody => ({ id: e.id, key: e.key, projectId: e.projectId, name: e.name });
export const featureView = (f: Feature): FeatureBody => ({ id: f.id, projectId: f.projectId, name: f.name, type: f.type, variants: f.variants });
export const grantView = (g: AccessGrant): AccessGrantBody => ({ userId: g.userId, scope: g.scope, scopeId: g.scopeId, role: g.role });
