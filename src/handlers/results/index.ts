import type { CommandHandler } from '../types.js';
import { getResults } from './get-results.js';
import { refreshResults } from './refresh-results.js';

// The results commands (CONTRACT.md `experiment.results.refresh` / `.get`), for environment-handlers.ts.
export const resultsHandlers: CommandHandler[] = [refreshResults, getResults] as CommandHandler[];
