import type { Telemetry } from 'bullmq';

// BullMQ's own spans (a job added, a job processed, with the trace carried in the job), when the worker traces
// (src/telemetry). BullMQ takes its telemetry per Queue and Worker; the tracer provider it reports to is
// process-wide, and so is this switch: it is thrown once at start-up, before any queue or worker is made.

let telemetry: Telemetry | undefined;

/** Turns BullMQ's telemetry on for the queues and workers made from now on. */
export async function traceQueues(tracerName: string): Promise<void> {
  // Loaded only when tracing is on: off, nothing of OpenTelemetry is loaded.
  const { BullMQOtel } = await import('bullmq-otel');
  telemetry = new BullMQOtel(tracerName);
}

/** The `telemetry` option of a Queue or Worker: empty unless tracing is on. */
export const queueTelemetry = (): { telemetry?: Telemetry } => (telemetry ? { telemetry } : {});
