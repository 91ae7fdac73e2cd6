// Payloads of the platform commands: in the client package (packages/client/src/contracts/platform.ts).
export {
  accessGrantSchema,
  environmentDeleteSchema,
  environmentUpsertSchema,
  featureUpsertSchema,
  featureVariantSchema,
  organisationUpsertSchema,
  projectUpsertSchema,
} from '@experimentation-worker/client/contracts';
export type { AccessGrantPayload, EnvironmentUpsert, FeatureUpsert, FeatureVariant, OrganisationUpsert, ProjectUpsert } from '@experimentation-worker/client/contracts';
