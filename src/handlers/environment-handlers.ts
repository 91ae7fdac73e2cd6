import type { CommandHandler } from './types.js';

// Environment-scoped handlers (metrics, experiments, attachments, results), one file per command type
// in handlers/metrics, handlers/experiments, handlers/experiment-metrics and handlers/results.
export const environmentHandlers: CommandHandler[] = [];
