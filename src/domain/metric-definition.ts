// DOMAIN.md "Metric": the checks on a metric's `definition` are part of the wire contract, so they live in the
// client package with the schemas that apply them (packages/client/src/contracts/metric-definition.ts).
export { DEFINITION_MESSAGES, SUPPORTED_DEFINITION_VERSIONS, definitionError } from '@experimentation-worker/client/contracts';
