import { createRequire } from 'node:module';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { tracingSettings, type TracingSettings } from './settings.js';
import { TRACER_NAME } from './tracing.js';

// Starts OpenTelemetry tracing before the worker's libraries are loaded: the instrumentations of pg, ioredis and
// kafkajs patch those modules as they load, so main.ts imports app.ts only after this.
//
// All three are CommonJS packages. They are loaded here once through `require`, where the SDK's require hook
// patches them (their prototypes); an ESM `import` of a CommonJS package that is already loaded gets that same
// module. So no ESM loader hook (import-in-the-middle) is registered: it would send every later import through a
// loader thread, and it matches packages by import name, which misses the file paths vitest imports them by.

/** The packages the instrumentations patch, loaded right after the SDK has started. */
const INSTRUMENTED_PACKAGES = ['pg', 'ioredis', 'kafkajs'];

export interface Tracing {
  settings: TracingSettings;
  /** Flushes the spans still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK when the OTEL_* variables ask for an exporter (settings.ts), or when `spanProcessors` are given
 * (tests); otherwise does nothing and loads nothing. Traces only: metrics stay Prometheus', logs pino's.
 */
export async function startTracing(options: { env?: Record<string, string | undefined>; spanProcessors?: SpanProcessor[] } = {}): Promise<Tracing> {
  const env = options.env ?? process.env;
  const settings: TracingSettings = options.spanProcessors ? { enabled: true, exporter: 'given span processors' } : tracingSettings(env);
  if (!settings.enabled) return { settings, shutdown: async () => {} };

  const [{ NodeSDK }, { PgInstrumentation }, { IORedisInstrumentation }, { KafkaJsInstrumentation }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/instrumentation-pg'),
    import('@opentelemetry/instrumentation-ioredis'),
    import('@opentelemetry/instrumentation-kafkajs'),
  ]);
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: TRACER_NAME }),
    ...(options.spanProcessors ? { spanProcessors: options.spanProcessors } : {}),
    // Only spans inside a trace: the relay's polling, readiness checks and BullMQ's blocking reads would
    // otherwise each start a trace of their own.
    instrumentations: [new PgInstrumentation({ requireParentSpan: true }), new IORedisInstrumentation({ requireParentSpan: true }), new KafkaJsInstrumentation()],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  const require = createRequire(import.meta.url);
  for (const name of INSTRUMENTED_PACKAGES) require(name);
  const { traceQueues } = await import('../jobs/queue-telemetry.js');
  await traceQueues(TRACER_NAME);
  return { settings, shutdown: () => sdk.shutdown() };
}
