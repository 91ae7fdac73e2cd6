import { statusCommand } from './status-command.js';

export const startExperiment = statusCommand('start');
