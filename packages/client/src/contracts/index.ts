// The wire contracts of the experimentation worker: zod schemas and their types. No Kafka here, so a service
// that only validates or documents messages needs nothing but zod.
export * from './envelope.js';
export * from './errors.js';
export * from './paging.js';
export * from './metric-definition.js';
export * from './metrics.js';
export * from './experiments.js';
export * from './platform.js';
export * from './results.js';
export * from './tracking.js';
export * from './resources.js';
export * from './commands.js';
export * from './events.js';
export * from './signing.js';
