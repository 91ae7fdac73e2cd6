import { statusCommand } from './status-command.js';

export const pauseExperiment = statusCommand('pause');
