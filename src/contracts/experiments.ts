// Payloads of the experiment and attached-metric commands: in the client package
// (packages/client/src/contracts/experiments.ts).
export {
  EXPECTED_DIRECTIONS,
  HYPOTHESIS_MAX_CHARS,
  MAX_METRICS_PER_EXPERIMENT,
  attachSchema,
  attachmentFieldsSchema,
  attachmentIdSchema,
  attachmentListSchema,
  attachmentUpdateFieldsSchema,
  attachmentUpdateSchema,
  experimentCreateSchema,
  experimentIdSchema,
  experimentListSchema,
  experimentUpdateFieldsSchema,
  experimentUpdateSchema,
} from '@experimentation-worker/client/contracts';
export type { AttachmentFields, ExpectedDirection, ExperimentCreate, ExperimentList, ExperimentUpdateFields } from '@experimentation-worker/client/contracts';
