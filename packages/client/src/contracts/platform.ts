import { z } from 'zod';

// Payloads of the platform commands (a system actor, no environment in the envelope).
const id = z.number().int().positive();

export const organisationUpsertSchema = z.object({
  id,
  name: z.string().min(1).max(255),
  experimentationEnabled: z.boolean(),
});
export const projectUpsertSchema = z.object({ id, organisationId: id, name: z.string().min(1).max(255) });
export const environmentUpsertSchema = z.object({
  key: z.string().min(1).max(255),
  projectId: id,
  name: z.string().min(1).max(255),
});
export const environmentDeleteSchema = z.object({ key: z.string().min(1).max(255) });
export const featureVariantSchema = z.object({
  key: z.string().min(1).max(255),
  percentageAllocation: z.number().min(0).max(100),
});
export const featureUpsertSchema = z.object({
  id,
  projectId: id,
  name: z.string().min(1).max(2000),
  type: z.enum(['STANDARD', 'MULTIVARIATE']),
  variants: z.array(featureVariantSchema).default([]),
});
export const accessGrantSchema = z.object({
  userId: z.string().min(1).max(255),
  scope: z.enum(['organisation', 'project', 'environment']),
  scopeId: z.union([z.string().min(1).max(255), z.number().int()]).transform(String),
  role: z.enum(['admin']),
});

export type OrganisationUpsert = z.infer<typeof organisationUpsertSchema>;
export type ProjectUpsert = z.infer<typeof projectUpsertSchema>;
export type EnvironmentUpsert = z.infer<typeof environmentUpsertSchema>;
export type FeatureUpsert = z.infer<typeof featureUpsertSchema>;
export type FeatureVariant = z.infer<typeof featureVariantSchema>;
export type AccessGrantPayload = z.infer<typeof accessGrantSchema>;
