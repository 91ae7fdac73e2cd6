import { statusCommand } from './status-command.js';

export const completeExperiment = statusCommand('complete');
