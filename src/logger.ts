import { pino, type Logger } from 'pino';

// Structured JSON logs on stdout, one object per line.
export function createLogger(level: string, name = 'experimentation-worker'): Logger {
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
export type { Logger };
