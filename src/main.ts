import { loadConfigOrExit } from './cli/common.js';
import { createLogger } from './logger.js';
import { startTracing } from './telemetry/start.js';

// `npm run worker`: the worker alone, against the configured Kafka, Postgres and Redis.
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(`Usage: npm run worker

Runs the experimentation worker against KAFKA_BROKERS, DATABASE_URL and REDIS_URL (see README "Configuration").
It creates its Kafka topics if missing, but starts no broker or database: use \`npm start\` for the local stack.
Health: GET http://HTTP_HOST:HTTP_PORT/healthz, /readyz, /metrics. Stops gracefully on SIGINT/SIGTERM.`);
  process.exit(0);
}

const config = loadConfigOrExit();
const logger = createLogger(config.LOG_LEVEL);

// Tracing first: its instrumentations patch pg, ioredis and kafkajs as they load, so app.ts (which loads them) is
// imported only after it. Off unless the OTEL_* variables ask for an exporter.
const tracing = await startTracing();
logger.info(tracing.settings.enabled ? { tracing: 'on', exporter: tracing.settings.exporter } : { tracing: 'off', reason: tracing.settings.reason }, 'tracing');
const { startWorkerApp } = await import('./app.js');

let app: Awaited<ReturnType<typeof startWorkerApp>>;
try {
  app = await startWorkerApp(config, logger);
} catch (error) {
  logger.fatal({ err: error }, `start-up failed: ${(error as Error).message}`);
  process.exit(1);
}
logger.info({ http: `http://${config.HTTP_HOST}:${app.httpPort}`, brokers: config.KAFKA_BROKERS, commandsTopic: config.COMMANDS_TOPIC }, 'worker started');

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  shuttingDown = true;
  logger.info({ signal, deadlineMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
  const deadline = setTimeout(() => {
    logger.error('shutdown deadline passed: exiting with work left uncommitted');
    process.exit(1);
  }, config.SHUTDOWN_TIMEOUT_MS);
  deadline.unref();
  await app.stop();
  await tracing.shutdown().catch((error: unknown) => logger.warn({ err: error }, 'could not flush the last spans'));
  logger.info('stopped cleanly');
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
